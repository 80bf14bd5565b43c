class FactoryError(Exception):
    """A mistake the user can fix (bad config, malformed input, unreachable server).

    The CLI prints it as one line and exits 1; the message says where and what to do.
    """
