"""What every teacher returns: the responses to a list of queries and its accounting."""

from dataclasses import dataclass


@dataclass
class Generation:
    """A teacher's responses, one per query, and its accounting (calls, tokens, cost, failures)."""

    responses: list[dict]
    stats: dict
