/**
 * Who waits for which systemd job, and the jobs that finished (JobRemoved). Several callers may
 * wait for ONE job: systemd merges a StopUnit into the stop job already queued for the unit and
 * returns the same job path (the agent's fencing stops units a running reconcile is unloading).
 * Every waiter is answered; a job that finished before anyone waited is remembered (a method reply
 * can trail its JobRemoved signal), the most recent `keep` of them.
 */
export interface JobResult {
  unit: string;
  /** systemd's job result: done, canceled, timeout, failed, dependency, skipped. */
  result: string;
}

export class JobWaiters {
  private readonly waiting = new Map<string, ((r: JobResult) => void)[]>();
  private readonly finished = new Map<string, JobResult>();

  constructor(private readonly keep = 4096) {}

  /** Resolves with the job's result when it finishes, or undefined after timeoutMs. */
  wait(jobPath: string, timeoutMs: number): Promise<JobResult | undefined> {
    const done = this.finished.get(jobPath);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => {
      const answer = (r: JobResult | undefined): void => {
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        const rest = (this.waiting.get(jobPath) ?? []).filter((w) => w !== answer);
        if (rest.length > 0) this.waiting.set(jobPath, rest);
        else this.waiting.delete(jobPath);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(jobPath, [...(this.waiting.get(jobPath) ?? []), answer]);
    });
  }

  /** A job finished (JobRemoved): answers its waiters and remembers it for late ones. */
  finish(jobPath: string, result: JobResult): void {
    const ws = this.waiting.get(jobPath) ?? [];
    this.waiting.delete(jobPath);
    for (const w of ws) w(result);
    this.finished.set(jobPath, result);
    if (this.finished.size > this.keep) this.finished.delete(this.finished.keys().next().value!);
  }

  /** Jobs someone waits for. */
  get pending(): number {
    return this.waiting.size;
  }
}
