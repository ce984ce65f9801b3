export { abortReason, backoffDelay, delay, onAbort, throwIfAborted } from './abort.js';
export { Lifecycle } from './lifecycle.js';
export { ListenerSet } from './listeners.js';
