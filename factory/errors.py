class FactoryError(Exception):
    """A mistake the user can fix (bad config, malformed input, unreachable server).

    The CLI prints it as one line and exits 1; the message says where and what to do.
    """


# `factory run`'s exit status when the run finished but some problems failed after their retries: the
# shards, the card and the manifest are written and say what is missing; the same command asks again.
# Apart from 1 (a mistake, nothing done) so that `factory run … && factory sft …` stops on either.
INCOMPLETE_EXIT = 3
