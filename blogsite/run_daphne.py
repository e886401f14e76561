"""`python -m blogsite.run_daphne [daphne's options] APP`: daphne on the project's reactor.

deploy/scripts/serve.py starts each daphne process this way. Daphne keeps an asyncio reactor it
finds installed, so installing `blogsite.reactor.EagerWriteReactor` before importing daphne is
all it takes; every option is daphne's own.
"""

from blogsite import reactor

if __name__ == "__main__":
    reactor.install()

    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()
