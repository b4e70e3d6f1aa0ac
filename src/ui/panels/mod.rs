//! The panels around the views: the menu and toolbar, the image browser, the window and histogram,
//! the annotations (report, phrases, labels, regions, metrics) and the status bar with the help.
//! Each reads the app's state and pushes commands; none changes the document.

pub(in crate::ui) mod annotations;
pub(in crate::ui) mod browser;
pub(in crate::ui) mod menu;
pub(in crate::ui) mod phrases;
pub(in crate::ui) mod report;
pub(in crate::ui) mod status;
pub(in crate::ui) mod toolbar;
pub(in crate::ui) mod window;
