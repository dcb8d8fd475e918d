"""One exception type for every user-facing problem: the CLI prints its message as one line."""


class KornewsError(Exception):
    """A problem with the user's input, config or files, explained in one line."""
