#!/bin/bash
# boot-systemd.sh ROOTFS CGROUP: exec a real systemd as PID 1 of new pid, mount, uts, ipc, net and
# cgroup namespaces, pivot_root'ed into ROOTFS (an unpacked make-rootfs.sh tar). Power it off with
# `kill -s SIGRTMIN+4 <its pid>`; then remove the cgroup subtrees named CGROUP in every hierarchy.
set -euo pipefail
R=${1:?rootfs}
CG=${2:?cgroup name}
# Move this shell into a private subtree of every hierarchy first: systemd mounts the v1
# controllers itself and would otherwise build its tree at the host's cgroup roots.
while IFS=: read -r _ ctrl path; do
  case "$ctrl" in "") d=/sys/fs/cgroup/unified ;; name=systemd) d=/sys/fs/cgroup/systemd ;; *) d=/sys/fs/cgroup/$ctrl ;; esac
  [ -d "$d$path" ] || continue
  mkdir -p "$d$path/$CG"
  if [ "$ctrl" = cpuset ]; then
    cat "$d$path/cpuset.cpus" >"$d$path/$CG/cpuset.cpus"
    cat "$d$path/cpuset.mems" >"$d$path/$CG/cpuset.mems"
  fi
  echo $$ >"$d$path/$CG/cgroup.procs"
done <<<"$(cat /proc/self/cgroup)"
exec unshare --pid --fork --mount --uts --ipc --net --cgroup --propagation private /bin/bash -c '
  set -e; R='"$R"'
  mount --bind "$R" "$R"
  mount -t proc proc "$R/proc"
  mount -t sysfs sysfs "$R/sys"
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
  else
    mount -t tmpfs -o mode=755 tmpfs "$R/sys/fs/cgroup"
    mkdir -p "$R/sys/fs/cgroup/systemd"; mount -t cgroup -o none,name=systemd cgroup "$R/sys/fs/cgroup/systemd"
    mkdir -p "$R/sys/fs/cgroup/unified"; mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup/unified"
  fi
  mount -t tmpfs -o mode=755,size=64m tmpfs "$R/dev"
  for d in null zero full random urandom tty; do touch "$R/dev/$d"; mount --bind /dev/$d "$R/dev/$d"; done
  mkdir -p "$R/dev/pts" "$R/dev/shm"; mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"; ln -sf pts/ptmx "$R/dev/ptmx"
  mount -t tmpfs tmpfs "$R/dev/shm"
  mount -t tmpfs -o mode=755 tmpfs "$R/run"
  mount -t tmpfs tmpfs "$R/tmp"
  ip link set lo up 2>/dev/null || true
  hostname robbie-ci
  export container=unshare
  # pivot_root, not chroot: a chrooted process may not create user namespaces (PrivateUsers= fails).
  cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; umount -l /.oldroot; rmdir /.oldroot
  exec /lib/systemd/systemd --system
'
