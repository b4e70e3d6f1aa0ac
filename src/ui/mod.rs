//! The egui application. Filled by the viewer issue.
