/**
 * A set of listeners dispatched with isolation: a listener that throws is reported to `onError`
 * and the others still run. Used by every store's watch and by the client's callbacks.
 */
export class ListenerSet<T> {
  readonly #listeners = new Set<(value: T) => void>();

  get size(): number {
    return this.#listeners.size;
  }

  /** Adds a listener; returns its idempotent remover. */
  add(listener: (value: T) => void): () => void {
    // Wrap so that the same function added twice is two subscriptions.
    const entry = (value: T) => listener(value);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Calls every listener with `value`; returns the errors thrown, after reporting each. */
  emit(value: T, onError?: (error: unknown) => void): unknown[] {
    const failures: unknown[] = [];
    for (const listener of [...this.#listeners]) {
      try {
        listener(value);
      } catch (error) {
        failures.push(error);
        try {
          onError?.(error);
        } catch {
          // A failing error reporter must not break dispatch either.
        }
      }
    }
    return failures;
  }

  clear(): void {
    this.#listeners.clear();
  }
}
