/**
 * Compiles a watch pattern over config ids: `*` matches within one segment, `**` across segments,
 * anything else literally. `features/*` matches `features/checkout` but not `features/a/b`.
 */
export function compilePattern(pattern: string): (id: string) => boolean {
  if (pattern === '**') return () => true;
  if (!pattern.includes('*')) return (id) => id === pattern;
  const source = pattern
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`);
  return (id) => re.test(id);
}
