# The repository root on sys.path: the tests import the sandbox package from here.
