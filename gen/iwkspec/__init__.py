"""iwkspec: loader, validator and typed model of the iwkit spec language (docs/spec-language.md)."""
