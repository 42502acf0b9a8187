/**
 * A process started by `obkit up` gets `OBKIT_SUPERVISED=1` and a pipe on stdin. When the supervisor
 * ends in any way (even SIGKILL) the pipe closes, and the process stops as on SIGTERM, so no service
 * outlives its `obkit up` holding the ports and the database.
 */
export function stopWithSupervisor(): void {
  if (process.env.OBKIT_SUPERVISED !== '1') return;
  const stop = () => process.kill(process.pid, 'SIGTERM');
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
