/**
 * A virtualised listbox: only the rows in view (and a few around them) are in the DOM, so ten
 * thousand refs scroll as smoothly as ten. Keyboard: the list is one tab stop; arrows, Page Up/Down,
 * Home and End move the active row (`aria-activedescendant`, kept in view); Enter opens it. The
 * active row is marked by a border and a "›" as well as its colour.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface VirtualListProps<T> {
  id: string;
  label: string;
  items: readonly T[];
  rowHeight: number;
  height: number;
  render: (item: T) => ComponentChildren;
  onOpen: (item: T) => void;
}

const OVERSCAN = 8;

export function VirtualList<T>({ id, label, items, rowHeight, height, render, onOpen }: VirtualListProps<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [active, setActive] = useState(0);
  const count = items.length;
  const current = Math.min(active, Math.max(0, count - 1));

  useEffect(() => {
    // A new filter: back to the top.
    setActive(0);
    setScrollTop(0);
    if (box.current) box.current.scrollTop = 0;
  }, [items]);

  const moveTo = (index: number) => {
    const next = Math.max(0, Math.min(count - 1, index));
    setActive(next);
    const el = box.current;
    if (!el) return;
    const top = next * rowHeight;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + rowHeight > el.scrollTop + height) el.scrollTop = top + rowHeight - height;
    setScrollTop(el.scrollTop);
  };

  const page = Math.max(1, Math.floor(height / rowHeight) - 1);
  const onKeyDown = (e: KeyboardEvent) => {
    if (count === 0) return;
    const keys: Record<string, () => void> = {
      ArrowDown: () => moveTo(current + 1),
      ArrowUp: () => moveTo(current - 1),
      PageDown: () => moveTo(current + page),
      PageUp: () => moveTo(current - page),
      Home: () => moveTo(0),
      End: () => moveTo(count - 1),
      Enter: () => onOpen(items[current] as T),
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  };

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN);
  const shown: number[] = [];
  for (let i = first; i < last; i++) shown.push(i);
  // The active row is always in the DOM, so aria-activedescendant names an element.
  if (count > 0 && (current < first || current >= last)) shown.push(current);

  return (
    <div
      ref={box}
      id={id}
      class="vlist"
      role="listbox"
      tabIndex={0}
      aria-label={label}
      aria-activedescendant={count > 0 ? `${id}-${current}` : undefined}
      style={{ height: `${height}px` }}
      onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}
      onKeyDown={onKeyDown}
    >
      <div role="presentation" style={{ height: `${count * rowHeight}px`, position: 'relative' }}>
        {shown.map((i) => (
          // biome-ignore lint/a11y/useKeyWithClickEvents: the listbox handles the keys (Enter opens the active row)
          <div
            key={i}
            tabIndex={-1}
            id={`${id}-${i}`}
            role="option"
            aria-selected={i === current}
            aria-setsize={count}
            aria-posinset={i + 1}
            class={i === current ? 'row active' : 'row'}
            style={{ top: `${i * rowHeight}px`, height: `${rowHeight}px` }}
            onClick={() => {
              setActive(i);
              onOpen(items[i] as T);
            }}
          >
            {render(items[i] as T)}
          </div>
        ))}
      </div>
    </div>
  );
}
