// Well-known cloud images for the register dialog: the distributions' official URLs and their published
// checksum files (JVP reads the file and verifies the download against it). Every field stays editable:
// Fedora's URL names a release, and the others point at "latest"/"current", which check-template-update
// then watches for new builds.
import type { RequestOf } from "@/lib/api";

type Register = RequestOf<"register-template">;

export interface Preset {
  id: string;
  label: string;
  name: string;
  url: string;
  checksumUrl: string;
  os: NonNullable<Register["os"]>;
  features: NonNullable<Register["features"]>;
  tags: string[];
  description: string;
}

export const PRESETS: Preset[] = [
  {
    id: "debian-12",
    label: "Debian 12 (bookworm) genericcloud",
    name: "debian-12",
    url: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
    checksumUrl: "https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS",
    os: { name: "debian", version: "12", arch: "x86_64" },
    features: { cloud_init: true, virtio: true, qemu_guest_agent: false },
    tags: ["debian", "lts"],
    description: "Debian 12 generic cloud image (cloud-init, no guest agent preinstalled)",
  },
  {
    id: "ubuntu-24.04",
    label: "Ubuntu 24.04 LTS (noble) cloudimg",
    name: "ubuntu-24.04",
    url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
    checksumUrl: "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS",
    os: { name: "ubuntu", version: "24.04", arch: "x86_64" },
    features: { cloud_init: true, virtio: true, qemu_guest_agent: false },
    tags: ["ubuntu", "lts"],
    description: "Ubuntu Server 24.04 LTS cloud image",
  },
  {
    id: "fedora-41",
    label: "Fedora Cloud 41 (Base Generic)",
    name: "fedora-41",
    url: "https://download.fedoraproject.org/pub/fedora/linux/releases/41/Cloud/x86_64/images/Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2",
    checksumUrl: "https://download.fedoraproject.org/pub/fedora/linux/releases/41/Cloud/x86_64/images/Fedora-Cloud-41-1.4-x86_64-CHECKSUM",
    os: { name: "fedora", version: "41", arch: "x86_64" },
    features: { cloud_init: true, virtio: true, qemu_guest_agent: true },
    tags: ["fedora"],
    description: "Fedora Cloud Base Generic 41 (a release URL: register the next release with its own URL)",
  },
  {
    id: "almalinux-9",
    label: "AlmaLinux 9 GenericCloud",
    name: "almalinux-9",
    url: "https://repo.almalinux.org/almalinux/9/cloud/x86_64/images/AlmaLinux-9-GenericCloud-latest.x86_64.qcow2",
    checksumUrl: "https://repo.almalinux.org/almalinux/9/cloud/x86_64/images/CHECKSUM",
    os: { name: "almalinux", version: "9", arch: "x86_64" },
    features: { cloud_init: true, virtio: true, qemu_guest_agent: true },
    tags: ["almalinux", "el9"],
    description: "AlmaLinux 9 GenericCloud image (cloud-init and qemu-guest-agent)",
  },
];
