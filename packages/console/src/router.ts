/** The console's routes live under `/ui`; navigation is the History API. */
export const BASE = '/ui';

export function navigate(path: string): void {
  history.pushState(null, '', `${BASE}${path}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The `onClick` of an in-app link: navigates without reloading. */
export function linkTo(path: string): (e: MouseEvent) => void {
  return (e) => {
    e.preventDefault();
    navigate(path);
  };
}
