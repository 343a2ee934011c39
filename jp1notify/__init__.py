"""jp1notify: JP1/AJS3 events to Slack.

Data flows one way: event -> classify -> routing -> message -> delivery; cli is the edge that
reads the environment, the config and the clock, and maps every outcome to an exit code.
Nothing is imported here so that each invocation loads only what its path needs.
"""

__version__ = "0.1.0"
DEBUG_ENV = "JP1NOTIFY_DEBUG"  # set to 1: unexpected exceptions propagate (tests, debugging)
