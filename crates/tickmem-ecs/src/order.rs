//! [`TickmemSet`] and the build pass that runs it before every other system.

use bevy_ecs::schedule::graph::Direction;
use bevy_ecs::schedule::{
    FlattenedDependencies, NodeId, ScheduleBuildError, ScheduleBuildPass, ScheduleGraph, SystemKey,
    SystemSet, SystemSetKey,
};
use bevy_ecs::world::World;
use bevy_platform::collections::HashSet;
use bevy_platform::hash::FixedHasher;
use indexmap::IndexSet;

/// The system sets tickmem adds to a schedule.
///
/// Order your own systems relative to them if you need to name them; you do
/// not need to for correctness: every system of a schedule tickmem was
/// installed in runs after [`TickmemSet::FrameBoundary`], including systems
/// added later.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TickmemSet {
    /// The exclusive frame-boundary system: advances the frame arena, trims
    /// scratch, flushes entity pools, publishes
    /// [`MemoryStats`](crate::MemoryStats), checks the allocation budget,
    /// emits the Tracy frame mark. It runs before every other system of the
    /// schedule, each tick.
    FrameBoundary,
}

/// A [`ScheduleBuildPass`] that orders the systems of
/// [`TickmemSet::FrameBoundary`] before every other system of the schedule.
///
/// It runs each time the schedule is (re)built, so systems added after
/// `install` are ordered too. Ordering a system before the set is a cycle:
/// the schedule fails to build with bevy's cycle error (and a log line
/// saying why).
#[derive(Debug, Default)]
pub(crate) struct RunFirstPass;

impl ScheduleBuildPass for RunFirstPass {
    type EdgeOptions = ();

    fn add_dependency(&mut self, _from: NodeId, _to: NodeId, _options: Option<&Self::EdgeOptions>) {
    }

    fn collapse_set(
        &mut self,
        _set: SystemSetKey,
        _systems: &IndexSet<SystemKey, FixedHasher>,
        _dependency_flattening: &bevy_ecs::schedule::graph::DiGraph<NodeId>,
    ) -> impl Iterator<Item = (NodeId, NodeId)> {
        std::iter::empty()
    }

    fn build(
        &mut self,
        _world: &mut World,
        graph: &mut ScheduleGraph,
        mut dependency_flattened: FlattenedDependencies<'_>,
    ) -> Result<(), ScheduleBuildError> {
        let Some(set) = graph.system_sets.get_key(
            bevy_ecs::schedule::IntoSystemSet::into_system_set(TickmemSet::FrameBoundary).intern(),
        ) else {
            return Ok(());
        };
        // The systems in the set, nested sets included.
        let mut first: HashSet<SystemKey> = HashSet::default();
        let mut stack = vec![NodeId::Set(set)];
        while let Some(node) = stack.pop() {
            for child in graph
                .hierarchy()
                .graph()
                .neighbors_directed(node, Direction::Outgoing)
            {
                match child {
                    NodeId::System(key) => {
                        first.insert(key);
                    }
                    NodeId::Set(_) => stack.push(child),
                }
            }
        }
        if first.is_empty() {
            return Ok(());
        }
        let others: Vec<SystemKey> = dependency_flattened
            .graph()
            .nodes()
            .filter(|key| !first.contains(key))
            .collect();
        for &f in &first {
            for &o in &others {
                if !dependency_flattened.graph().contains_edge(f, o) {
                    dependency_flattened.add_edge(f, o);
                }
            }
        }
        if let Err(e) = dependency_flattened.toposort() {
            log::error!(
                "tickmem: a system is ordered before TickmemSet::FrameBoundary, which must run \
                 before every other system of its schedule; remove that ordering"
            );
            return Err(ScheduleBuildError::FlatDependencySort(e));
        }
        Ok(())
    }
}
