/**
 * @module How the scripts start a node process, matching `npm start` and the container's entry
 * point (infra/image/start-node.sh): libuv's file-system thread pool at 16 threads unless the
 * caller's environment sets UV_THREADPOOL_SIZE. With the default four, a few long fsyncs of large
 * uploads hold every thread and every other disk read and write of the node queues behind them.
 * The size is read once, when the process first uses the pool, so only a launcher can set it.
 */
export const NODE_THREAD_POOL_SIZE = 16;

/** `env` with the node's thread pool size added, unless it names one already. */
export function withNodeThreadPool<T extends Record<string, string | undefined>>(env: T): T & { UV_THREADPOOL_SIZE: string } {
  return { ...env, UV_THREADPOOL_SIZE: env['UV_THREADPOOL_SIZE'] ?? String(NODE_THREAD_POOL_SIZE) };
}
