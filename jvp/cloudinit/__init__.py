"""cloud-init NoCloud seed: meta-data, user-data and network-config, packed into an ISO in Python."""
