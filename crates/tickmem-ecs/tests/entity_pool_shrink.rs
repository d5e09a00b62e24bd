//! `EntityPool`'s shrink policy: a model of the hysteresis, no ping-pong
//! under oscillating load, and the Game of Life of issue 16 (a population
//! that falls for good is given back).

use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_ecs::world::Mut;
use proptest::prelude::*;
use tickmem_ecs::{
    EntityPool, EntityPoolWorldExt, MemoryStats, PoolCommands, Pooled, ShrinkPolicy,
    TickmemWorldExt,
};

#[derive(Component, Debug)]
struct Item;

fn world_with(policy: ShrinkPolicy) -> World {
    let mut world = World::new();
    world.insert_resource(EntityPool::<Item>::new().with_shrink_policy(policy));
    world.register_entity_pool::<Item>();
    world
}

fn pool(world: &World) -> &EntityPool<Item> {
    world.resource::<EntityPool<Item>>()
}

/// Pooled entities in the world, enabled or parked.
fn pooled_in_world(world: &mut World) -> usize {
    world
        .query_filtered::<(), (With<Pooled>, Allow<Disabled>)>()
        .iter(world)
        .count()
}

/// One tick: acquire `acquire` entities, then release `release` of the live
/// ones, then end the tick.
fn tick(world: &mut World, live: &mut Vec<Entity>, acquire: usize, release: usize) {
    world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        for _ in 0..acquire {
            live.push(pool.acquire_typed(world.entity_allocator(), (Item,)));
        }
        for _ in 0..release.min(live.len()) {
            pool.release(live.pop().expect("not empty"));
        }
    });
    world.tick_entity_pool::<Item>();
}

/// The reference: the policy as a history of demands, written down plainly.
struct Reference {
    policy: ShrinkPolicy,
    owned: usize,
    live: usize,
    spawned: usize,
    given_back: usize,
    /// Demands of the quiet ticks since the last reset.
    quiet_run: Vec<usize>,
}

impl Reference {
    fn new(policy: ShrinkPolicy) -> Self {
        Reference {
            policy,
            owned: 0,
            live: 0,
            spawned: 0,
            given_back: 0,
            quiet_run: Vec::new(),
        }
    }

    fn tick(&mut self, acquire: usize, release: usize) {
        self.live += acquire;
        if self.live > self.owned {
            // Free entities are used first; the rest are spawned.
            self.spawned += self.live - self.owned;
            self.owned = self.live;
        }
        let demand = self.live;
        self.live -= release.min(self.live);
        let Some(window) = self.policy.quiet_ticks() else {
            return;
        };
        if self.owned <= self.policy.keep_for(demand) {
            self.quiet_run.clear();
            return;
        }
        self.quiet_run.push(demand);
        if self.quiet_run.len() == window as usize {
            let keep = self
                .policy
                .keep_for(*self.quiet_run.iter().max().expect("not empty"));
            let give_back = self.owned.saturating_sub(keep).min(self.owned - self.live);
            self.owned -= give_back;
            self.given_back += give_back;
            self.quiet_run.clear();
        }
    }
}

fn policy() -> impl Strategy<Value = ShrinkPolicy> {
    (1u32..8, 0u32..60, 0usize..8).prop_map(|(ticks, pct, min)| {
        ShrinkPolicy::after_quiet_ticks(ticks)
            .headroom_percent(pct)
            .min_free(min)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 128 }))]

    /// Random loads: the pool owns, spawns and gives back exactly what the
    /// reference says, every tick, and the world holds what it owns.
    #[test]
    fn shrink_matches_the_reference(
        policy in policy(),
        ticks in proptest::collection::vec((0usize..60, 0usize..60), 1..80),
    ) {
        let mut world = world_with(policy);
        let mut reference = Reference::new(policy);
        let mut live = Vec::new();
        for (t, &(acquire, release)) in ticks.iter().enumerate() {
            tick(&mut world, &mut live, acquire, release);
            reference.tick(acquire, release);
            let p = pool(&world);
            prop_assert_eq!(p.live(), reference.live, "tick {}", t);
            prop_assert_eq!(p.owned(), reference.owned, "tick {}", t);
            prop_assert_eq!(p.spawned() as usize, reference.spawned, "tick {}", t);
            prop_assert_eq!(p.given_back() as usize, reference.given_back, "tick {}", t);
            prop_assert_eq!(pooled_in_world(&mut world), reference.owned, "tick {}", t);
        }
    }

    /// A load that repeats with a period no longer than the policy's quiet
    /// ticks never makes the pool give back and spawn again.
    #[test]
    fn no_ping_pong_under_periodic_load(
        policy in policy(),
        pattern in proptest::collection::vec(0usize..100, 1..8),
    ) {
        let window = policy.quiet_ticks().expect("shrinks") as usize;
        let period = pattern.len().min(window);
        let pattern = &pattern[..period];
        let peak = *pattern.iter().max().expect("not empty");
        let mut world = world_with(policy);
        let mut live = Vec::new();
        for _ in 0..12 {
            for &target in pattern {
                let (acquire, release) = if target > live.len() {
                    (target - live.len(), 0)
                } else {
                    (0, live.len() - target)
                };
                tick(&mut world, &mut live, acquire, release);
            }
        }
        prop_assert_eq!(pool(&world).given_back(), 0);
        prop_assert_eq!(pool(&world).spawned() as usize, peak);
    }
}

#[test]
fn oscillating_load_keeps_its_peak_and_a_lasting_drop_is_given_back() {
    let policy = ShrinkPolicy::after_quiet_ticks(30);
    let mut world = world_with(policy);
    let mut live = Vec::new();
    // 1,000 / 100 live, 10 ticks each: the period (20) is within the window.
    for round in 0..30 {
        if round % 2 == 0 {
            let acquire = 1000 - live.len();
            tick(&mut world, &mut live, acquire, 0);
        } else {
            let release = live.len() - 100;
            tick(&mut world, &mut live, 0, release);
        }
        for _ in 0..9 {
            tick(&mut world, &mut live, 0, 0);
        }
    }
    assert_eq!(
        (pool(&world).spawned(), pool(&world).given_back()),
        (1000, 0)
    );
    // The load stays at 100 (9 quiet ticks counted already): after 30 quiet
    // ticks in a row, the pool keeps 100 + 32 (25% of 100 is below
    // min_free).
    for _ in 0..20 {
        tick(&mut world, &mut live, 0, 0);
    }
    assert_eq!(pool(&world).owned(), 1000);
    tick(&mut world, &mut live, 0, 0);
    assert_eq!(pool(&world).owned(), policy.keep_for(100));
    assert_eq!(pool(&world).given_back(), 1000 - 132);
    assert_eq!(pooled_in_world(&mut world), 132);
}

#[test]
fn never_keeps_everything() {
    let mut world = world_with(ShrinkPolicy::never());
    let mut live = Vec::new();
    tick(&mut world, &mut live, 500, 500);
    for _ in 0..1000 {
        tick(&mut world, &mut live, 0, 0);
    }
    assert_eq!((pool(&world).parked(), pool(&world).given_back()), (500, 0));
}

// --- The Game of Life of issue 16 -------------------------------------------

#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Cell(u16, u16);

#[derive(Resource)]
struct Board {
    n: u16,
    population: Vec<usize>,
}

/// One generation: cells with 2 or 3 neighbours live on, empty places with 3
/// are born. Deaths are released to the pool, births acquired from it.
fn life(
    mut pool: PoolCommands<Cell>,
    cells: Query<(Entity, &Cell)>,
    mut board: ResMut<Board>,
    mut grid: Local<Vec<(bool, u8)>>,
) {
    let n = board.n as usize;
    // (alive, live neighbours) per place.
    grid.clear();
    grid.resize(n * n, (false, 0));
    for (_, &Cell(x, y)) in &cells {
        let (x, y) = (x as usize, y as usize);
        grid[y * n + x].0 = true;
        for (dx, dy) in [
            (n - 1, n - 1),
            (0, n - 1),
            (1, n - 1),
            (n - 1, 0),
            (1, 0),
            (n - 1, 1),
            (0, 1),
            (1, 1),
        ] {
            grid[(y + dy) % n * n + (x + dx) % n].1 += 1;
        }
    }
    let mut next = 0;
    for (e, &Cell(x, y)) in &cells {
        if matches!(grid[y as usize * n + x as usize].1, 2 | 3) {
            next += 1;
        } else {
            pool.release(e);
        }
    }
    for (i, &(alive, neighbours)) in grid.iter().enumerate() {
        if !alive && neighbours == 3 {
            pool.acquire_typed((Cell((i % n) as u16, (i / n) as u16),));
            next += 1;
        }
    }
    board.population.push(next);
}

/// Run the Game of Life on an `n`×`n` torus from a seeded half-full soup
/// (spawned outside the pool, then adopted) for `generations` ticks; returns
/// the pool and the population of each generation.
fn game_of_life(n: u16, generations: usize, policy: ShrinkPolicy) -> (World, Vec<usize>) {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    tickmem_ecs::install(&mut world, &mut schedule);
    world.insert_resource(EntityPool::<Cell>::new().with_shrink_policy(policy));
    world.register_entity_pool::<Cell>();
    world.insert_resource(Board {
        n,
        population: Vec::new(),
    });
    // The initial population is spawned elsewhere.
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let soup: Vec<Cell> = (0..n)
        .flat_map(|x| (0..n).map(move |y| Cell(x, y)))
        .filter(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed & 1 == 1
        })
        .collect();
    let initial = soup.len();
    let spawned: Vec<Entity> = world.spawn_batch(soup).collect();
    for e in spawned {
        world.adopt_pooled::<Cell>(e).expect("spawned, in no pool");
    }
    schedule.add_systems(life);
    for _ in 0..generations {
        schedule.run(&mut world);
        world.clear_trackers();
    }
    let mut population = vec![initial];
    population.extend(world.resource::<Board>().population.iter().copied());
    (world, population)
}

#[test]
fn game_of_life_gives_back_a_fallen_population() {
    // `TICKMEM_GOL_N=512 cargo test --release -p tickmem-ecs --test
    // entity_pool_shrink game_of_life -- --nocapture` runs the size.
    let n: u16 = std::env::var("TICKMEM_GOL_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 12 } else { 64 });
    let generations = if cfg!(miri) { 30 } else { 400 };
    let window = if cfg!(miri) { 5 } else { 50 };
    let policy = ShrinkPolicy::after_quiet_ticks(window);

    let (kept, population) = game_of_life(n, generations, ShrinkPolicy::never());
    let (shrunk, same_population) = game_of_life(n, generations, policy);
    assert_eq!(
        population, same_population,
        "the pool changes nothing in the game"
    );

    let initial = population[0];
    let last = *population.last().expect("ran");
    let kept = kept.resource::<EntityPool<Cell>>();
    let shrunk_pool = shrunk.resource::<EntityPool<Cell>>();
    eprintln!(
        "game of life {n}x{n}, {generations} generations: population {initial} -> {last}; \
         never shrinking: {} owned ({} parked); {policy:?}: {} owned ({} parked), {} given back",
        kept.owned(),
        kept.parked(),
        shrunk_pool.owned(),
        shrunk_pool.parked(),
        shrunk_pool.given_back()
    );
    assert!(
        last * 3 < initial,
        "the population fell: {initial} -> {last}"
    );
    assert_eq!(kept.live(), last);
    assert_eq!(shrunk_pool.live(), last);
    // Without shrinking, the pool keeps (about) its peak.
    assert!(kept.owned() >= initial);
    // With it, it owns what the recent peak needs: the highest population
    // of the last two windows, plus headroom.
    let recent_peak = *population[population.len() - 2 * window as usize..]
        .iter()
        .max()
        .expect("ran");
    assert!(
        shrunk_pool.owned() <= policy.keep_for(recent_peak),
        "owned {} > keep_for({recent_peak})",
        shrunk_pool.owned()
    );
    assert!(shrunk_pool.given_back() > 0);
    assert_eq!(
        shrunk_pool.owned() as u64,
        shrunk_pool.spawned() + shrunk_pool.adopted() - shrunk_pool.given_back()
    );
    // Published at the start of the last tick, before its generation.
    let stats = shrunk
        .resource::<MemoryStats>()
        .pool("Cell")
        .expect("registered");
    assert_eq!(stats.live, population[population.len() - 2]);
}
