//! The facade re-exports each crate, and the prelude names the same items.

use std::any::TypeId;

#[test]
fn modules_are_the_crates() {
    assert_eq!(
        TypeId::of::<tickmem::frame::FrameArena>(),
        TypeId::of::<tickmem_frame::FrameArena>()
    );
    assert_eq!(
        TypeId::of::<tickmem::pool::Pool<u8>>(),
        TypeId::of::<tickmem_pool::Pool<u8>>()
    );
    assert_eq!(
        TypeId::of::<tickmem::scratch::ScratchStats>(),
        TypeId::of::<tickmem_scratch::ScratchStats>()
    );
    assert_eq!(
        TypeId::of::<tickmem::track::AllocStats>(),
        TypeId::of::<tickmem_track::AllocStats>()
    );
    assert_eq!(
        TypeId::of::<tickmem::ecs::MemoryStats>(),
        TypeId::of::<tickmem_ecs::MemoryStats>()
    );
    assert_eq!(tickmem::tracy::ENABLED, tickmem_tracy::ENABLED);
}

#[test]
fn prelude_names_the_same_items() {
    use tickmem::prelude::*;
    assert_eq!(
        TypeId::of::<FrameArena>(),
        TypeId::of::<tickmem_frame::FrameArena>()
    );
    assert_eq!(
        TypeId::of::<Handle<u8>>(),
        TypeId::of::<tickmem_pool::Handle<u8>>()
    );
    assert_eq!(
        TypeId::of::<CountingAlloc>(),
        TypeId::of::<tickmem_track::CountingAlloc>()
    );
    assert_eq!(
        TypeId::of::<TickmemConfig>(),
        TypeId::of::<tickmem_ecs::TickmemConfig>()
    );
}

/// `tickmem::hashbrown` and `tickmem::allocator_api2` are the versions the
/// arenas implement `Allocator` for: collections from them take
/// `FrameAlloc` (these lines do not compile otherwise), and the macro works
/// through the facade.
#[test]
fn reexported_collections_take_tickmem_allocators() {
    use tickmem::allocator_api2::vec::Vec;
    use tickmem::hashbrown::{DefaultHashBuilder, HashMap, HashSet};
    use tickmem::prelude::*;

    tickmem::frame::frame_data! { Cells<'f> = HashSet<(i32, i32), DefaultHashBuilder, FrameAlloc<'f>>; }

    let arena = FrameArena::new();
    let mut v: Vec<u32, FrameAlloc<'_>> = Vec::with_capacity_in(4, arena.allocator());
    v.extend([1, 2, 3]);
    let mut m: HashMap<u32, u32, DefaultHashBuilder, FrameAlloc<'_>> =
        HashMap::with_capacity_and_hasher_in(4, DefaultHashBuilder::default(), arena.allocator());
    m.extend(v.iter().map(|&x| (x, x * x)));
    assert_eq!(m[&3], 9);
    tickmem::scratch::with(|s| {
        let mut w: Vec<u8, &tickmem::scratch::Scratch<'_>> = Vec::new_in(s);
        w.push(1);
        assert_eq!(w.len(), 1);
    });
    drop((v, m));
    let host = tickmem::frame::FrameHost::new(arena);
    let t = host.publish::<Cells>(|f| {
        let mut cells =
            HashSet::with_capacity_and_hasher_in(2, DefaultHashBuilder::default(), f.allocator());
        cells.insert((0, 0));
        cells
    });
    assert!(host.read(t).unwrap().contains(&(0, 0)));
    assert_eq!(
        TypeId::of::<tickmem::allocator_api2::alloc::Global>(),
        TypeId::of::<tickmem_frame::allocator_api2::alloc::Global>()
    );
}
