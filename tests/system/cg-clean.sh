#!/bin/bash
# cg-clean.sh NAME: removes the (empty) cgroup subtrees NAME that boot-systemd.sh created.
N=${1:?name}
find /sys/fs/cgroup -depth -type d -name "$N" 2>/dev/null | while read -r d; do
  find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
done
! find /sys/fs/cgroup -type d -name "$N" 2>/dev/null | grep -q .
