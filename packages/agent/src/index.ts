// The sidecar agent and the summit-config CLI land here (issue 9). Nothing is exported yet.
export {};
