// Secret references, providers and rotation land here (issue 8). Nothing is exported yet.
export {};
