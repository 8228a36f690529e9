//! The detail screen's text: the `show` view and the `graph` tree of one task, rendered by
//! the same renderers as the commands (plain text; the dashboard colours its own frame).

use crate::graph::backend::{Backend, TaskMeta};
use crate::model::TaskId;
use crate::render::graph::TreeOptions;
use crate::render::show::ShowData;
use crate::render::{RenderCtx, Styles, Zone};
use crate::state::State;

use super::app::DetailTab;

/// The lines of `tab` for task `id`, fitted to `width` where the renderer fits; a sentence
/// when the task is not in the state (yet).
pub fn lines(
    state: &State,
    id: &str,
    tab: DetailTab,
    backend: Option<TaskMeta>,
    horizon: f64,
    look: (Zone, bool, u16),
) -> Vec<String> {
    let (zone, ascii, width) = look;
    let Some(record) = state.task(&TaskId::parse(id)) else {
        return vec![format!(
            "task {id} is not in the events shown (it may not have been sent yet)"
        )];
    };
    let rctx = RenderCtx {
        styles: Styles::plain(),
        zone,
        now: crate::render::fmt::at(horizon),
        width: Some(width),
        ascii,
        wide: false,
        at: None,
    };
    let mut out = Vec::new();
    let written = match tab {
        DetailTab::Task => {
            let backend = backend.or_else(|| TaskMeta::recorded(state, &record.id));
            let data = ShowData::gather(state, record, horizon, backend);
            crate::render::show::text(state, &data, &rctx, horizon, &mut out)
        }
        DetailTab::Flow => {
            let recorded = Backend::from_records(state);
            match crate::graph::build(state, &record.id, &recorded, horizon, Default::default()) {
                Some(flow) => crate::render::graph::tree(
                    state,
                    &flow,
                    TreeOptions {
                        all: false,
                        depth: None,
                    },
                    &rctx,
                    &mut out,
                ),
                None => {
                    return vec![format!("no flow is known for {id}")];
                }
            }
        }
    };
    if let Err(e) = written {
        return vec![format!("could not render: {e}")];
    }
    String::from_utf8_lossy(&out)
        .lines()
        .map(|l| l.replace('\t', "    "))
        .collect()
}
