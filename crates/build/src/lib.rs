//! Berth's image builder, first part (issue 13): everything that needs no
//! engine.
//!
//! - [`shell`]: BuildKit's shell lexer (word splitting, `${VAR:-x}` & co.).
//! - [`parser`]: the Dockerfile as BuildKit's parser reads it: directives,
//!   continuations, heredocs, JSON vs shell form, into an AST of lines.
//! - [`instructions`]: the AST into typed instructions with their flags
//!   (`RUN --mount`, `COPY --from`, `HEALTHCHECK --interval`...), grouped
//!   into stages.
//! - [`stages`]: the stage graph (FROM, COPY --from, RUN --mount from=) as a
//!   DAG; the stages a target needs; cycles and missing stages refused.
//! - [`ignore`]: `.dockerignore` files and moby's pattern matcher.
//! - [`context`]: the build context (a directory walked once or a tar),
//!   its files' digests, and source paths resolved inside it.
//! - [`cache`]: the content-addressed cache key of each step (ENV and ARG
//!   expanded step by step as BuildKit dispatches them).

#![deny(unsafe_code)]

pub mod cache;
pub mod context;
pub mod ignore;
pub mod instructions;
pub mod parser;
pub mod shell;
pub mod stages;
