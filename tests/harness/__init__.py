"""Test harness: hosts as network namespaces with their own sshd (netns_hosts), a CLI (hosts.py), pytest fixtures."""
