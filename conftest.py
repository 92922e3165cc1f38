# The repository root on sys.path: the tests import the sandbox package from here.
# The CDK's standard tests (integration_tests/test_standard.py) need its pytest hooks.
pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
