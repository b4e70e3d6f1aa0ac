//! The SQLite project file (`*.voxmark`). Filled by the project-file issue; nothing here yet.
//!
//! May use `core` and rusqlite; never `io`, `render`, `ui` or `inference`.
