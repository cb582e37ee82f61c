"""Image adapters of the controller: HTTP fetches of base images (resumable, hashed on the fly), checksum
files, and `qemu-img info` on files in the controller's own data dir."""
