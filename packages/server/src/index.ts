/**
 * @summit-config/server: the config server (issue 18), under construction. Nothing is exported yet
 * that the README documents; see docs/server.md once it exists.
 */
export {};
