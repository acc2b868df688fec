"""The SQLite schema of the resume-state file and its migrations.

Each migration is a list of statements applied in one transaction; the schema
version lives in `PRAGMA user_version`. Persisted names (queues, statuses,
columns) are stable forever: add columns, never rename them.

The PostgreSQL store (runner.state.postgresql.dialect) derives its schema from
these same statements (types, identity columns and upserts translated), and both
stores share this one version number space: every migration is written so that
it runs on both (plain CREATE TABLE / CREATE INDEX / ALTER TABLE ADD COLUMN; a data
statement after version 6 must be valid in both dialects once translated).
"""

from __future__ import annotations

from typing import Final

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # version 1
    (
        """
        CREATE TABLE tasks (
            name             TEXT PRIMARY KEY,
            site             TEXT NOT NULL,
            created          REAL NOT NULL,
            last_modified    REAL NOT NULL,
            last_modified_by TEXT NOT NULL DEFAULT '',
            config_hash      TEXT NOT NULL DEFAULT '',
            status           TEXT NOT NULL DEFAULT 'idle',
            command          TEXT NOT NULL DEFAULT '',
            latest_detail    TEXT NOT NULL DEFAULT '',
            sequence         INTEGER NOT NULL DEFAULT 0,
            last_fire        REAL,
            last_run_id      TEXT
        )
        """,
        """
        CREATE TABLE runs (
            id               TEXT PRIMARY KEY,
            task             TEXT NOT NULL,
            site             TEXT NOT NULL,
            trigger          TEXT NOT NULL,
            fire_time        REAL,
            window_end       REAL,
            started_at       REAL NOT NULL,
            ended_at         REAL,
            phase            TEXT NOT NULL,
            status           TEXT NOT NULL,
            definition_hash  TEXT NOT NULL,
            message          TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX runs_open ON runs (site, ended_at)",
        "CREATE INDEX runs_task ON runs (task, started_at)",
        """
        CREATE TABLE steps (
            run_id           TEXT NOT NULL,
            phase            TEXT NOT NULL,
            idx              INTEGER NOT NULL,
            started_at       REAL NOT NULL,
            ended_at         REAL,
            status           TEXT,
            exit_code        INTEGER,
            error            TEXT,
            PRIMARY KEY (run_id, phase, idx)
        )
        """,
        """
        CREATE TABLE items (
            task             TEXT NOT NULL,
            item_id          TEXT NOT NULL,
            queue            TEXT NOT NULL,
            entered_at       REAL NOT NULL,
            attributes       TEXT NOT NULL DEFAULT '{}',
            in_group         INTEGER NOT NULL DEFAULT 1,
            missing          TEXT NOT NULL DEFAULT '',
            attempts         INTEGER NOT NULL DEFAULT 0,
            retries_used     INTEGER NOT NULL DEFAULT 0,
            last_status      TEXT,
            last_error       TEXT,
            retry_at         REAL,
            running_attempt  INTEGER,
            pending_queue    TEXT,
            updated          REAL NOT NULL,
            PRIMARY KEY (task, item_id)
        )
        """,
        "CREATE INDEX items_queue ON items (task, queue, entered_at)",
        "CREATE INDEX items_pending ON items (running_attempt) WHERE pending_queue IS NOT NULL",
        """
        CREATE TABLE attempts (
            id               INTEGER PRIMARY KEY,
            task             TEXT NOT NULL,
            item_id          TEXT NOT NULL,
            run_id           TEXT NOT NULL,
            site             TEXT NOT NULL,
            number           INTEGER NOT NULL,
            definition_hash  TEXT NOT NULL,
            started_at       REAL NOT NULL,
            ended_at         REAL,
            status           TEXT,
            exit_code        INTEGER,
            signal           INTEGER,
            error            TEXT,
            queue            TEXT,
            duration_s       REAL,
            output_dir       TEXT NOT NULL DEFAULT '',
            checkpoints      INTEGER NOT NULL DEFAULT 0,
            events_read      INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX attempts_item ON attempts (task, item_id, id)",
        "CREATE INDEX attempts_open ON attempts (site, ended_at)",
        """
        CREATE TABLE moves (
            id               INTEGER PRIMARY KEY,
            task             TEXT NOT NULL,
            item_id          TEXT NOT NULL,
            at               REAL NOT NULL,
            by               TEXT NOT NULL,
            from_queue       TEXT NOT NULL,
            to_queue         TEXT NOT NULL,
            reason           TEXT NOT NULL DEFAULT '',
            applied_at       REAL
        )
        """,
        "CREATE INDEX moves_item ON moves (task, item_id, id)",
        """
        CREATE TABLE processed (
            task             TEXT NOT NULL,
            item_id          TEXT NOT NULL,
            sub_id           TEXT NOT NULL,
            attempt_id       INTEGER NOT NULL,
            at               REAL NOT NULL,
            PRIMARY KEY (task, item_id, sub_id)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE events (
            id               INTEGER PRIMARY KEY,
            attempt_id       INTEGER NOT NULL,
            kind             TEXT NOT NULL,
            value            TEXT NOT NULL,
            at               REAL NOT NULL
        )
        """,
        "CREATE INDEX events_attempt ON events (attempt_id)",
        """
        CREATE TABLE workers (
            site             TEXT PRIMARY KEY,
            state            TEXT NOT NULL,
            pid              INTEGER NOT NULL,
            host             TEXT NOT NULL,
            started_at       REAL NOT NULL,
            heartbeat        REAL NOT NULL,
            items_done       INTEGER NOT NULL DEFAULT 0,
            throughput       REAL NOT NULL DEFAULT 0
        )
        """,
    ),
    # version 2: controls: task halts/pauses/resumes, brake windows, running items by task,
    # attempts by run (when a run last moved, for `runner check`), run-now requests to serve
    (
        """
        CREATE TABLE task_controls (
            id               INTEGER PRIMARY KEY,
            task             TEXT NOT NULL,
            at               REAL NOT NULL,
            by               TEXT NOT NULL,
            action           TEXT NOT NULL,
            reason           TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX task_controls_task ON task_controls (task, id)",
        """
        CREATE TABLE brake_windows (
            task             TEXT PRIMARY KEY,
            attempts         INTEGER NOT NULL DEFAULT 0,
            failed           INTEGER NOT NULL DEFAULT 0,
            consecutive      INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX items_running ON items (task) WHERE running_attempt IS NOT NULL",
        "CREATE INDEX attempts_run ON attempts (run_id, ended_at)",
        """
        CREATE TABLE run_requests (
            id               INTEGER PRIMARY KEY,
            task             TEXT NOT NULL,
            site             TEXT NOT NULL,
            at               REAL NOT NULL,
            by               TEXT NOT NULL,
            taken_at         REAL
        )
        """,
        "CREATE INDEX run_requests_pending ON run_requests (site) WHERE taken_at IS NULL",
        """
        CREATE TABLE serving (
            site             TEXT PRIMARY KEY,
            pid              INTEGER NOT NULL,
            host             TEXT NOT NULL,
            since            REAL NOT NULL
        )
        """,
    ),
    # version 3: output (metrics per attempt: the last value of each name it reported)
    (
        """
        CREATE TABLE attempt_metrics (
            attempt_id       INTEGER NOT NULL,
            name             TEXT NOT NULL,
            value            REAL NOT NULL,
            PRIMARY KEY (attempt_id, name)
        ) WITHOUT ROWID
        """,
        """
        INSERT OR REPLACE INTO attempt_metrics (attempt_id, name, value)
        SELECT e.attempt_id, j.key, j.value FROM events e, json_each(e.value) j
        WHERE e.kind = 'metric' AND json_valid(e.value) AND json_type(e.value) = 'object'
        AND j.type IN ('integer', 'real') ORDER BY e.id
        """,
    ),
    # version 4: metrics (attempts by task and status, and their duration buckets, read from
    # the index alone; a run's attempts, for its summary and notifications, use attempts_run)
    ("CREATE INDEX attempts_status ON attempts (task, status, duration_s)",),
    # version 5: retention (a run's attempts are found through attempts_run, version 2)
    (
        "ALTER TABLE attempts ADD COLUMN output_pruned_at REAL",
        "CREATE INDEX runs_ended ON runs (ended_at) WHERE ended_at IS NOT NULL",
    ),
    # version 6: web console (a run's attempts counted by status for the runs page)
    ("CREATE INDEX attempts_run_status ON attempts (run_id, status)",),
    # version 7: resume (what each task's group was last synced from: a resume whose group
    # source is unchanged skips re-reading and re-syncing it)
    (
        """
        CREATE TABLE group_sources (
            task             TEXT PRIMARY KEY,
            source           TEXT NOT NULL,
            synced_at        REAL NOT NULL
        )
        """,
    ),
    # version 8: several runners of one site (a shared database): a row per runner with its
    # lease (a runner is `instance` within its site; `epoch` counts its starts, `lost_at` marks
    # one a live runner took over), which runner made each attempt, which one owns each run
    (
        """
        CREATE TABLE runners (
            site             TEXT NOT NULL,
            instance         TEXT NOT NULL,
            state            TEXT NOT NULL,
            pid              INTEGER NOT NULL,
            host             TEXT NOT NULL,
            started_at       REAL NOT NULL,
            heartbeat        REAL NOT NULL,
            items_done       INTEGER NOT NULL DEFAULT 0,
            throughput       REAL NOT NULL DEFAULT 0,
            epoch            INTEGER NOT NULL DEFAULT 1,
            lease_until      REAL NOT NULL DEFAULT 0,
            lost_at          REAL,
            PRIMARY KEY (site, instance)
        )
        """,
        "INSERT INTO runners (site, instance, state, pid, host, started_at, heartbeat, items_done, "
        "throughput) SELECT site, host || ':' || pid, state, pid, host, started_at, heartbeat, "
        "items_done, throughput FROM workers",
        "DROP TABLE workers",
        "ALTER TABLE attempts ADD COLUMN runner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
    ),
)

SCHEMA_VERSION: Final = len(MIGRATIONS)
