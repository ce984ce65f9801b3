/** The memory token store runs the token store contract suite (one process: no peer). */
import { runTokenStoreContract } from '@summit-config/test-support/contract/token-store-contract';
import { createMemoryTokenStore } from '../../src/tokens/index.js';

runTokenStoreContract('memory', { durable: false, create: (now) => createMemoryTokenStore({ now }) });
