"""What a stream's read gives, made comparable: lists of records opened up, messages as JSON."""

from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer


def flat(items) -> list:
    """Records one by one (a list is a page of them); messages as dicts, to be compared."""
    out: list = []
    for item in items:
        if isinstance(item, list):
            out += item
        elif isinstance(item, AirbyteMessage):
            out.append(AirbyteMessageSerializer.dump(item))
        else:
            out.append(item)
    return out
