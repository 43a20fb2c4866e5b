"""Chaos tests: exactly one charge per row through seeded faults and SIGKILLs.

The client runs in a child process (`_child.py`) that the tests kill and resume;
the FakeChing it talks to is served by the test process, so it survives the kills
and its late commits land while no client is alive.
"""
