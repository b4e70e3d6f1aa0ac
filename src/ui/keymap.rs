//! One table of keys → commands. The frame reads keys through it ([`commands_for_keys`]) and the
//! F1 help lists it ([`help_rows`]), so the two never disagree.

use super::command::Command;
use super::grounding::RegionFilter;
use super::mpr::Layout;
use super::tools::Tool;
use crate::core::annotation::{PhraseId, RegionId, Status};
use egui::{Key, Modifiers};

/// What a key does; turned into a [`Command`] with the state of the frame ([`Context`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Undo the latest step.
    Undo,
    /// Redo the latest undone step.
    Redo,
    /// Move this many slices (a page: ±10 % of them).
    Slice(i64),
    /// Move a page of slices, forward (+1) or back (-1).
    Page(i64),
    /// First slice.
    First,
    /// Last slice.
    Last,
    /// The image's first window again.
    ResetWindow,
    /// Next window preset.
    NextPreset,
    /// Fit the image to the view.
    Fit,
    /// Show or hide the shortcuts.
    Help,
    /// A view layout.
    Layout(Layout),
    /// A tool.
    Tool(Tool),
    /// Delete the selected region.
    Delete,
    /// Accept or reject the selected region.
    Review(Status),
    /// Link or unlink the selected region and the active phrase.
    ToggleLink,
    /// Select the next model proposal.
    NextProposal,
    /// Next region filter (everyone, people, models).
    CycleFilter,
    /// Show or hide the phrase's heatmap.
    ToggleHeatmap,
    /// New phrase from the report's selected words.
    NewPhrase,
    /// Scale the brush.
    Brush(f64),
    /// End the gesture, close the help, clear the selection.
    Cancel,
}

/// One row of the table: the keys (any of them), what they do, and the help line.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Modifier and key combinations; the first is the one the help names first.
    pub keys: Vec<(Modifiers, Key)>,
    /// What they do.
    pub action: Action,
    /// The help line.
    pub help: String,
}

fn bind(keys: &[(Modifiers, Key)], action: Action, help: &str) -> Binding {
    Binding {
        keys: keys.to_vec(),
        action,
        help: help.to_owned(),
    }
}

const NONE: Modifiers = Modifiers::NONE;

/// Every key binding, in the order keys are matched (Ctrl+Shift+Z before Ctrl+Z: egui lets Ctrl+Z
/// match with Shift held).
pub fn bindings() -> Vec<Binding> {
    let ctrl = Modifiers::COMMAND;
    let mut out = vec![
        bind(
            &[(ctrl | Modifiers::SHIFT, Key::Z), (ctrl, Key::Y)],
            Action::Redo,
            "redo",
        ),
        bind(&[(ctrl, Key::Z)], Action::Undo, "undo"),
        bind(
            &[(NONE, Key::ArrowUp), (NONE, Key::ArrowDown)],
            Action::Slice(1),
            "next / previous slice (the mouse wheel too)",
        ),
        bind(
            &[(NONE, Key::PageUp), (NONE, Key::PageDown)],
            Action::Page(1),
            "10% of the slices forward / back",
        ),
        bind(
            &[(NONE, Key::Home), (NONE, Key::End)],
            Action::First,
            "first / last slice",
        ),
        bind(&[(NONE, Key::Z)], Action::Fit, "fit the image to the view"),
        bind(
            &[(NONE, Key::L)],
            Action::NextPreset,
            "next window preset: the file's, the modality's from Settings (CT lung…), auto, full range",
        ),
        bind(&[(NONE, Key::R)], Action::ResetWindow, "reset the window"),
        bind(
            &[(NONE, Key::Delete), (NONE, Key::Backspace)],
            Action::Delete,
            "delete the selected region",
        ),
        bind(
            &[(NONE, Key::A), (NONE, Key::X)],
            Action::Review(Status::Accepted),
            "accept / reject the selected region (review)",
        ),
        bind(
            &[(NONE, Key::N)],
            Action::NextProposal,
            "next proposal to review",
        ),
        bind(
            &[(NONE, Key::C)],
            Action::CycleFilter,
            "show all regions / people's only / models' only (compare a phrase's grounding)",
        ),
        bind(
            &[(NONE, Key::H)],
            Action::ToggleHeatmap,
            "show / hide the phrase's heatmap",
        ),
        bind(
            &[(NONE, Key::P)],
            Action::NewPhrase,
            "new phrase from the words selected in the report",
        ),
        bind(
            &[(NONE, Key::K)],
            Action::ToggleLink,
            "link / unlink the selected region and the active phrase",
        ),
        bind(
            &[(NONE, Key::OpenBracket), (NONE, Key::CloseBracket)],
            Action::Brush(1.0 / 1.25),
            "smaller / larger brush",
        ),
        bind(
            &[(NONE, Key::Escape)],
            Action::Cancel,
            "cancel the gesture, then clear the selection",
        ),
        bind(
            &[(NONE, Key::F1)],
            Action::Help,
            "show or hide this list (? too)",
        ),
    ];
    for l in Layout::ALL {
        out.push(bind(&[(NONE, l.key())], Action::Layout(l), l.name()));
    }
    for t in Tool::ALL {
        out.push(Binding {
            keys: vec![(NONE, t.key())],
            action: Action::Tool(t),
            help: format!("{}: {}", t.name(), t.hint()),
        });
    }
    out
}

/// The opposite of a two-key binding's first action (its second key): down for up, end for home…
fn second(action: Action) -> Action {
    match action {
        Action::Slice(n) => Action::Slice(-n),
        Action::Page(n) => Action::Page(-n),
        Action::First => Action::Last,
        Action::Review(_) => Action::Review(Status::Rejected),
        Action::Brush(f) => Action::Brush(1.0 / f),
        other => other,
    }
}

/// What the frame knows that keys need.
pub struct Context {
    /// Slices in a page.
    pub page: i64,
    /// The selected region.
    pub selected_region: Option<RegionId>,
    /// The active phrase.
    pub active_phrase: Option<PhraseId>,
    /// The region filter now.
    pub region_filter: RegionFilter,
    /// The command that makes a phrase of the report's selection, when there is one.
    pub new_phrase: Option<Command>,
}

/// The command an action asks for, if any in this context.
pub fn command(action: Action, cx: &Context) -> Option<Command> {
    Some(match action {
        Action::Undo => Command::Undo,
        Action::Redo => Command::Redo,
        Action::Slice(n) => Command::StepSlice(n),
        Action::Page(n) => Command::StepSlice(n * cx.page),
        Action::First => Command::SetSlice(0),
        Action::Last => Command::SetSlice(usize::MAX),
        Action::ResetWindow => Command::ResetWindow,
        Action::NextPreset => Command::NextPreset,
        Action::Fit => Command::ResetView,
        Action::Help => Command::ToggleHelp,
        Action::Layout(l) => Command::SetLayout(l),
        Action::Tool(t) => Command::SetTool(t),
        Action::Delete => Command::DeleteRegion(cx.selected_region?),
        Action::Review(status) => Command::SetStatus {
            region: cx.selected_region?,
            status,
        },
        Action::ToggleLink => Command::ToggleLink {
            phrase: cx.active_phrase?,
            region: cx.selected_region?,
        },
        Action::NextProposal => Command::NextProposal,
        Action::CycleFilter => Command::SetRegionFilter(cx.region_filter.next()),
        Action::ToggleHeatmap => Command::ToggleHeatmap,
        Action::NewPhrase => cx.new_phrase.clone()?,
        Action::Brush(f) => Command::ScaleBrush(f),
        Action::Cancel => Command::Cancel,
    })
}

/// Consumes the bound keys pressed this frame and returns their commands, in table order.
pub fn commands_for_keys(input: &mut egui::InputState, cx: &Context) -> Vec<Command> {
    let mut out = Vec::new();
    for b in bindings() {
        for (n, (modifiers, key)) in b.keys.iter().enumerate() {
            // A two-key row's second key does the opposite (down for up); a row of
            // alternatives (Ctrl+Y for redo, Backspace for delete) maps it to itself.
            let action = if n == 1 { second(b.action) } else { b.action };
            // A key whose action has no command here (Delete with nothing selected) is left for
            // the widgets.
            if let Some(c) = command(action, cx)
                && input.consume_key(*modifiers, *key)
            {
                out.push(c);
            }
        }
    }
    out
}

/// How a key combination reads: "Ctrl+Shift+Z", "Page Up".
pub fn key_name(modifiers: Modifiers, key: Key) -> String {
    let mut s = String::new();
    if modifiers.command || modifiers.ctrl {
        s.push_str("Ctrl+");
    }
    if modifiers.alt {
        s.push_str("Alt+");
    }
    if modifiers.shift {
        s.push_str("Shift+");
    }
    s.push_str(key.name());
    s
}

/// Pointer gestures (no key to bind), for the help.
const POINTER: &[(&str, &str)] = &[
    ("Ctrl + wheel", "zoom about the cursor"),
    ("Middle-drag", "pan (left-drag in the select tool too)"),
    (
        "Right-drag",
        "window: horizontal = width, vertical = centre",
    ),
    (
        "Drop files",
        "load DICOM folders, NIfTI, PNG/JPEG/TIFF, .voxmark",
    ),
    (
        "Shift+click (any view), click (other planes, select tool)",
        "move the crosshair: every view goes through it",
    ),
    (
        "3D view: drag / wheel / double-click",
        "orbit / zoom / front view again; menu: MIP or DVR preset",
    ),
];

/// The help's rows: each binding's keys and line, then the pointer gestures.
pub fn help_rows() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = bindings()
        .into_iter()
        .map(|b| {
            let keys: Vec<String> = b.keys.iter().map(|(m, k)| key_name(*m, *k)).collect();
            (keys.join(" / "), b.help)
        })
        .collect();
    rows.extend(POINTER.iter().map(|(k, w)| (k.to_string(), w.to_string())));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context {
        Context {
            page: 4,
            selected_region: Some(crate::core::Id::from_u128(7)),
            active_phrase: None,
            region_filter: RegionFilter::default(),
            new_phrase: None,
        }
    }

    fn press(modifiers: Modifiers, key: Key, cx: &Context) -> Vec<Command> {
        let mut input = egui::InputState::default();
        input.events.push(egui::Event::Key {
            key,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers,
        });
        input.modifiers = modifiers;
        commands_for_keys(&mut input, cx)
    }

    #[test]
    fn keys_give_their_commands() {
        let cx = cx();
        assert_eq!(
            press(NONE, Key::PageDown, &cx),
            vec![Command::StepSlice(-4)]
        );
        assert_eq!(
            press(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z, &cx),
            vec![Command::Redo],
            "Ctrl+Shift+Z redoes and does not undo too"
        );
        assert_eq!(press(Modifiers::COMMAND, Key::Z, &cx), vec![Command::Undo]);
        assert_eq!(press(NONE, Key::Z, &cx), vec![Command::ResetView]);
        assert_eq!(
            press(NONE, Key::X, &cx),
            vec![Command::SetStatus {
                region: crate::core::Id::from_u128(7),
                status: Status::Rejected
            }]
        );
        assert_eq!(
            press(NONE, Key::CloseBracket, &cx),
            vec![Command::ScaleBrush(1.25)]
        );
        assert_eq!(press(NONE, Key::B, &cx), vec![Command::SetTool(Tool::Box)]);
        // K needs an active phrase.
        assert!(press(NONE, Key::K, &cx).is_empty());
    }

    /// No key is bound twice, and the help lists every binding.
    #[test]
    fn one_key_one_meaning_and_the_help_lists_them() {
        let all: Vec<(Modifiers, Key)> = bindings().into_iter().flat_map(|b| b.keys).collect();
        for (i, k) in all.iter().enumerate() {
            assert!(!all[..i].contains(k), "{k:?} is bound twice");
        }
        let rows = help_rows();
        assert!(rows.iter().any(|(k, _)| k == "Ctrl+Shift+Z / Ctrl+Y"));
        assert!(rows.iter().any(|(k, w)| k == "B" && w.starts_with("Box")));
        assert_eq!(rows.len(), bindings().len() + POINTER.len());
    }
}
