#!/usr/bin/env bash
# Model-checks every Promela model in models/ with spin, the correct
# protocol and each planted mutant, and fails unless spin verifies every
# correct configuration and rejects every mutant. Prints the state counts.
# Needs spin and a C compiler (CI installs spin from Debian).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# model | defines | expect (ok = no errors, bug = spin must find a violation)
# Defines containing -DLIVE select the liveness check: non-progress cycles
# under weak fairness (cc -DNP, pan -l -f); the others check safety
# (cc -DSAFETY: assertions and invalid end states).
cases=(
  "notifier-doorbell.pml||ok"
  "notifier-doorbell.pml|-DBUG_STEAL|bug"
  "notifier-doorbell.pml|-DBUG_LATE_SEQ|bug"
  "notifier-doorbell.pml|-DBUG_CHECK_EARLY|bug"
  "notifier-doorbell.pml|-DLIVE|ok"
  "notifier-doorbell.pml|-DLIVE -DBUG_STEAL|bug"
  "notifier-doorbell.pml|-DLIVE -DBUG_LATE_SEQ|bug"
  "notifier-doorbell.pml|-DLIVE -DBUG_CHECK_EARLY|bug"
  "notifier-consumer.pml||ok"
  "notifier-consumer.pml|-DBUG_CLEAR_LATE|bug"
  "notifier-consumer.pml|-DBUG_EARLY_LOAD|bug"
  "aio-notify.pml||ok"
  "aio-notify.pml|-DNODELOOP|ok"
  "aio-notify.pml|-DNODELOOP -DBUG|ok"
  "aio-notify.pml|-DBUG|bug"
  "aio-notify.pml|-DBUG2|bug"
  "aio-notify.pml|-DDISPATCHING|bug"
  "aio-notify.pml|-DNODELOOP -DBUG_PREPARE|bug"
  "bh-flags.pml||ok"
  "bh-flags.pml|-DBUG_CLEAR_BEFORE_WALK|bug"
  "bh-flags.pml|-DBUG_PUSH_ALWAYS|bug"
  "pool-completion.pml||ok"
  "pool-completion.pml|-DBUG_NO_RESCHEDULE|bug"
  "pool-completion.pml|-DBUG_SCHEDULE_FIRST|bug"
  "pool-poll.pml||ok"
  "pool-poll.pml|-DBUG_NO_RECHECK|bug"
  "pool-poll.pml|-DBUG_LOAD_FIRST|bug"
  "pool-wakeup.pml||ok"
  "pool-wakeup.pml|-DBUG_NO_HANDOFF|bug"
  "pool-wakeup.pml|-DBUG_S4_COUNT|bug"
  "pool-wakeup.pml|-DBUG_NO_RECHECK|bug"
  "pool-wakeup.pml|-DBUG_S4_ALWAYS|bug"
  "pool-wakeup.pml|-DCAP=1|ok"
  "pool-wakeup.pml|-DCAP=1 -DBUG_NO_WATCH_SPINNER|bug"
  "pool-wakeup.pml|-DCAP=1 -DBUG_NO_STRAND|bug"
  "ioeventfd-deassign.pml||ok"
  "ioeventfd-deassign.pml|-DBUG_NO_QUIESCE|bug"
  "ioeventfd-deassign.pml|-DBUG_CLEAR_FIRST|bug"
  "ioeventfd-deassign.pml|-DBUG_LATE_ENTER|bug"
  "ioeventfd-deassign.pml|-DBUG_NO_GEN|bug"
  "ioeventfd-deassign.pml|-DLIVE|ok"
  "ioeventfd-deassign.pml|-DLIVE -DBUG_NO_QUIESCE|bug"
  "ioeventfd-deassign.pml|-DLIVE -DBUG_CLEAR_FIRST|bug"
  "ioeventfd-deassign.pml|-DLIVE -DBUG_LATE_ENTER|bug"
  "ioeventfd-deassign.pml|-DLIVE -DBUG_NO_GEN|bug"
)

command -v spin >/dev/null || { echo "spin is not installed (apt-get install -y spin)"; exit 1; }
printf '%-24s %-28s %-8s %-8s %10s\n' model defines expect result states
fail=0
for c in "${cases[@]}"; do
  IFS='|' read -r model defines expect <<<"$c"
  dir="$work/$(echo "$model$defines" | tr -c 'A-Za-z0-9' _)"
  mkdir -p "$dir" && cp "$here/models/$model" "$dir/"
  case "$defines" in
    *-DLIVE*) cflags=-DNP; panflags="-m20000000 -l -f" ;;
    *) cflags=-DSAFETY; panflags="-m1000000" ;;
  esac
  # shellcheck disable=SC2086
  (cd "$dir" && spin -a $defines "$model" >spin.log 2>&1 && cc -O2 $cflags -o pan pan.c >cc.log 2>&1 && ./pan $panflags >pan.log 2>&1) || true
  errors=$(grep -oE 'errors: [0-9]+' "$dir/pan.log" | awk '{print $2}' || true)
  states=$(grep -oE '[0-9]+ states, stored' "$dir/pan.log" | awk '{print $1}' || true)
  if [ -z "$errors" ]; then result=broken; elif [ "$errors" = 0 ]; then result=ok; else result=bug; fi
  # A search cut short by the depth bound proves nothing.
  if [ "$result" = ok ] && grep -q 'max search depth too small' "$dir/pan.log"; then result=truncated; fi
  mark=""
  if [ "$result" != "$expect" ]; then mark="  <-- expected $expect"; fail=1; fi
  printf '%-24s %-28s %-8s %-8s %10s%s\n' "$model" "${defines:-(correct)}" "$expect" "$result" "${states:-?}" "$mark"
  if [ "$result" = broken ]; then cat "$dir/spin.log" "$dir/cc.log" "$dir/pan.log" 2>/dev/null | tail -20; fi
done
if [ "$fail" != 0 ]; then echo "models: spin disagreed with the expected verdicts"; exit 1; fi
echo "models: every correct protocol verified, every planted mutant rejected"
