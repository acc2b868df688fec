"""The runner's vocabulary and its pure rules: standard library only, below ``runner.config``.

queues.py    queue names, categories and the queue sets the rules use; operator move checks
statuses.py  built-in attempt statuses and task modes
runs.py      run statuses, phases, triggers and run ids
workers.py   worker state names and the offline/online/running rule
dispatch.py  which waiting items may start and in which order
policy.py    the retry decision, backoff, the pending-move rule, run-start and rediscovery rules
outcomes.py  outcome classification: exit code and output tails -> status and queue
timefmt.py   the one ISO 8601 instant and the one duration text
"""
