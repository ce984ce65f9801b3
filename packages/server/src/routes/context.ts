/** What every route area receives: the checked server options. */
export type { CheckedOptions as ServerContext } from '../options.js';
