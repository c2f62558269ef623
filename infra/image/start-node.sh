#!/bin/sh
# Entry point of the node's container image. Every ECS task is a cluster member of its own, so
# unless CALLFS_INSTANCE_DISCOVERY__INSTANCE_ID is set it gets an id no other task has:
# `<region>-<ECS task id>` (from the task metadata endpoint), or `<region>-<hostname>` outside ECS.
set -eu
if [ -z "${CALLFS_INSTANCE_DISCOVERY__INSTANCE_ID:-}" ]; then
  task_id=""
  if [ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ]; then
    task_id=$(node -e 'fetch(process.env.ECS_CONTAINER_METADATA_URI_V4 + "/task").then((r) => r.json()).then((t) => console.log(String(t.TaskARN).split("/").pop()), () => undefined)')
  fi
  if [ -z "$task_id" ]; then
    task_id=$(hostname | cut -d. -f1)
  fi
  CALLFS_INSTANCE_DISCOVERY__INSTANCE_ID="${CALLFS_INSTANCE_DISCOVERY__REGION:-node}-${task_id}"
  export CALLFS_INSTANCE_DISCOVERY__INSTANCE_ID
fi
# Sixteen file-system threads instead of libuv's four: a few long fsyncs of large uploads would
# otherwise hold every thread, and every other disk read and write would queue behind them.
UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-16}"
export UV_THREADPOOL_SIZE
exec node dist/app/main.js "$@"
