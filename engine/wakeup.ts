/**
 * How the outbox consumer (outbox-consumer.ts) sleeps between batches: until its poll interval
 * passes or a NOTIFY comes. A NOTIFY that comes while the loop is busy is kept, and the next sleep
 * returns at once: the batch in hand may have claimed before the notified change committed, and
 * left alone that change would wait for the next poll.
 */
export class Wakeup {
  private woken = false;
  private wake: (() => void) | undefined;

  notify(): void {
    this.woken = true;
    this.wake?.();
  }

  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
