"""scloud_api: the northbound HTTP service of SCloudStack.

An asynchronous job API over ansible-runner: callers submit a catalogue playbook with validated
variables, get ``202`` at once, follow the job by polling or server-sent events, and are called
back (signed per Standard Webhooks) when it ends.
"""

__version__ = "0.1.0"
