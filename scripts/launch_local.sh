#!/usr/bin/env bash
# One training run over N processes on this machine, as on N hosts: a quick look at the
# multi-process path (JAX's runtime, CPU devices, collectives over gloo).
#
#   scripts/launch_local.sh N DEVICES --config=wgan_jax/configs/mnist.py:quick --workdir=/tmp/run
#
# starts N processes of experiments/train_images.py, each with DEVICES CPU devices, process 0
# the coordinator on a free local port; the remaining arguments go to every process. Process 0's
# output comes here; process i's goes to <workdir>.process_<i>.log. Ctrl-C or SIGTERM reaches
# every process (they checkpoint the same step and exit 0); the status is the first nonzero one.
set -euo pipefail
if [[ $# -lt 3 || ! $1 =~ ^[1-9][0-9]*$ || ! $2 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N DEVICES --config=... --workdir=... [flags]" >&2
  exit 2
fi
count=$1 devices=$2
shift 2
workdir=
for arg in "$@"; do
  [[ $arg == --workdir=* ]] && workdir=${arg#--workdir=}
done
if [[ -z $workdir ]]; then
  echo "error: name the run's --workdir" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("localhost", 0)); print(s.getsockname()[1])')
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
for ((i = 0; i < count; i++)); do
  log=/dev/stderr
  ((i > 0)) && log=$workdir.process_$i.log
  JAX_NUM_CPU_DEVICES=$devices "$python" "$here/experiments/train_images.py" "$@" \
    --config.run.data_parallel=True --config.run.distributed=True \
    --coordinator_address="localhost:$port" --num_processes="$count" --process_id="$i" \
    >>"$log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  # wait returns early when a trapped signal arrives: wait again until the process ends.
  while true; do
    set +e
    wait "$pid"
    code=$?
    set -e
    kill -0 "$pid" 2>/dev/null || break
  done
  ((status == 0)) && status=$code
done
exit "$status"
