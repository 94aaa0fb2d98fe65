//! What each command's page says beyond its flags: the variables it reads, how it exits, how
//! it is used.

/// A name and what it means: a variable, an exit code, an example's command line.
pub(super) type Item = (&'static str, &'static str);

/// What a page says beyond the flags.
#[derive(Debug, Default)]
pub(super) struct Extra {
    pub(super) environment: &'static [Item],
    pub(super) exit_status: &'static [Item],
    pub(super) examples: &'static [Item],
}

impl Extra {
    /// The sections that say something, headed as `--help` writes them (the pages upper-case
    /// the headings, as man-pages(7) does).
    pub(super) fn sections(&self) -> impl Iterator<Item = (&'static str, &'static [Item])> {
        [
            ("Environment", self.environment),
            ("Exit status", self.exit_status),
            ("Examples", self.examples),
        ]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
    }
}

/// The variables every command that calls a running c360 reads.
const CLIENT_ENVIRONMENT: &[Item] = &[
    (
        "C360_ADDR",
        "The server, as --addr takes it (default 127.0.0.1:50051).",
    ),
    (
        "C360_TOKEN",
        "A bearer token sent as `authorization: Bearer …` (from `c360 token` or your identity \
         provider). Credentials come from the environment only: other users of the machine can \
         read a process's arguments.",
    ),
    (
        "C360_API_KEY",
        "An API key sent as `x-api-key`, when C360_TOKEN is not set.",
    ),
    (
        "C360_CA_CERT",
        "A PEM file of the CA that signed the server's certificate, for https:// addresses \
         (default: the system's roots).",
    ),
    (
        "C360_CLIENT_CERT, C360_CLIENT_KEY",
        "A PEM certificate and its key, for a server that asks for client certificates \
         (mutual TLS); both or neither.",
    ),
];

/// How the commands that call a running c360 end.
const CLIENT_EXIT: &[Item] = &[
    ("0", "The call succeeded."),
    (
        "1",
        "It failed: one line on stderr with the gRPC code and the server's message, and the \
         request id when the server sent one (quote it in a support ticket; -v shows every \
         header and trailer).",
    ),
    ("2", "The command line is wrong (clap's usage error)."),
];

/// How the commands that do not call a server end.
const PLAIN_EXIT: &[Item] = &[
    ("0", "Done."),
    (
        "1",
        "It failed: the reason on stderr, each line marked `error:`.",
    ),
    ("2", "The command line is wrong (clap's usage error)."),
];

/// What the server reads from its environment.
const SERVE_ENVIRONMENT: &[Item] = &[
    (
        "C360_<TABLE>__<KEY>",
        "A setting, over the file's: C360_SERVER__LISTEN=0.0.0.0:50051, \
         C360_DATABASE__URL=postgres://…, C360_AUTH__JWT__SECRET=… (two underscores between \
         table and key). Other C360_* variables (Kubernetes' C360_PORT, C360_SERVICE_HOST, the \
         client's C360_TOKEN…) are not configuration and are ignored.",
    ),
    ("RUST_LOG", "A log filter, over log.filter."),
    (
        "CREDENTIALS_DIRECTORY",
        "Set by systemd's LoadCredential=: the shipped unit reads \
         ${CREDENTIALS_DIRECTORY}/c360.toml.",
    ),
];

/// What a command's page says beyond its flags, by the command's name.
pub(super) fn extra(name: &str) -> Extra {
    match name {
        "c360" | "serve" | "demo" | "config" | "check" => serving(name),
        "get" | "watch" | "lookup" | "invalidate" | "stats" | "top" | "health" => calling(name),
        _ => setting_up(name),
    }
}

/// The pages of c360 itself, and of what serves or checks the configuration.
fn serving(name: &str) -> Extra {
    match name {
        "c360" => Extra {
            environment: &[
                (
                    "C360_<TABLE>__<KEY>",
                    "Settings for serve and config check; see c360-serve(1).",
                ),
                (
                    "C360_ADDR, C360_TOKEN, C360_API_KEY, C360_CA_CERT, C360_CLIENT_CERT, C360_CLIENT_KEY",
                    "The server the client commands call and how; see c360-get(1).",
                ),
            ],
            exit_status: PLAIN_EXIT,
            examples: &[
                (
                    "c360 demo",
                    "Seed a SQLite database and serve it: nothing to install.",
                ),
                ("c360 get 42", "Print customer 42's profile from the demo."),
                (
                    "c360 config check --config /etc/c360/c360.toml",
                    "Check a configuration before a deploy.",
                ),
            ],
        },
        "serve" => Extra {
            environment: SERVE_ENVIRONMENT,
            exit_status: &[
                (
                    "0",
                    "Stopped by SIGTERM or Ctrl-C with every call finished within the drain and the grace.",
                ),
                (
                    "1",
                    "It could not start (the configuration, a certificate, the listen address: \
                     every problem on stderr), or calls were still running when the grace ran out.",
                ),
                ("2", "The command line is wrong (clap's usage error)."),
            ],
            examples: &[
                (
                    "c360 serve --config /etc/c360/c360.toml",
                    "Serve with a configuration file.",
                ),
                (
                    "C360_SERVER__LISTEN=0.0.0.0:50051 c360 serve --config c360.toml",
                    "Listen beyond loopback: [auth] must be configured, or the start is refused.",
                ),
            ],
        },
        "demo" => Extra {
            environment: &[],
            exit_status: PLAIN_EXIT,
            examples: &[(
                "c360 demo --activity",
                "Serve the demo and keep changing a few customers, to watch live.",
            )],
        },
        "config" | "check" => Extra {
            environment: SERVE_ENVIRONMENT,
            exit_status: &[
                (
                    "0",
                    "The configuration holds; it is printed, secrets hidden.",
                ),
                (
                    "1",
                    "It does not: every problem on stderr, each naming its key and where it came from.",
                ),
                ("2", "The command line is wrong (clap's usage error)."),
            ],
            examples: &[(
                "c360 config check --config /etc/c360/c360.toml",
                "What serve would run with, before a restart.",
            )],
        },
        _ => Extra::default(),
    }
}

/// The pages of the commands that call a running c360.
fn calling(name: &str) -> Extra {
    match name {
        "get" | "watch" | "lookup" | "invalidate" | "stats" | "top" => Extra {
            environment: CLIENT_ENVIRONMENT,
            exit_status: if name == "lookup" {
                LOOKUP_EXIT
            } else {
                CLIENT_EXIT
            },
            examples: client_examples(name),
        },
        "health" => Extra {
            environment: CLIENT_ENVIRONMENT,
            exit_status: &[
                ("0", "SERVING."),
                (
                    "1",
                    "The arguments do not hold (a bad --addr or --timeout); clap's own usage \
                     errors exit 2.",
                ),
                (
                    "2",
                    "No connection (refused, or no answer within --timeout).",
                ),
                ("3", "The call failed (an error status, or the deadline)."),
                ("4", "It answered, but not SERVING."),
            ],
            examples: &[
                (
                    "c360 health --addr 127.0.0.1:50051",
                    "A container's HEALTHCHECK or a Kubernetes exec probe.",
                ),
                (
                    "c360 health --service customer360.v1.CustomerService",
                    "Ask about one service rather than the server as a whole.",
                ),
            ],
        },
        _ => Extra::default(),
    }
}

/// The pages of the commands that set c360 up.
fn setting_up(name: &str) -> Extra {
    match name {
        "token" => Extra {
            environment: &[(
                "C360_AUTH__JWT__SECRET",
                "The signing secret, over the configuration file's auth.jwt.secret.",
            )],
            exit_status: PLAIN_EXIT,
            examples: &[(
                "C360_TOKEN=$(c360 token --config c360.toml --role agent --ttl 8h) c360 get 42",
                "Call as an agent for a working day.",
            )],
        },
        "api-key" => Extra {
            environment: &[],
            exit_status: PLAIN_EXIT,
            examples: &[(
                "c360 api-key --name billing-sync --role service --config c360.toml",
                "A key for a service: the key for it, the [[auth.api_keys]] entry for the configuration.",
            )],
        },
        "seed" => Extra {
            environment: &[],
            exit_status: PLAIN_EXIT,
            examples: &[(
                "c360 seed --database-url postgres://postgres@127.0.0.1/c360 --customers 50000",
                "The reference schema and 50,000 customers in a Postgres database.",
            )],
        },
        _ => Extra {
            exit_status: PLAIN_EXIT,
            ..Extra::default()
        },
    }
}

/// `c360 lookup` exits as grep does.
const LOOKUP_EXIT: &[Item] = &[
    ("0", "At least one customer matched."),
    (
        "1",
        "None matched (\"no customer matches\" on stderr), or the call failed.",
    ),
    ("2", "The command line is wrong (clap's usage error)."),
];

fn client_examples(name: &str) -> &'static [Item] {
    match name {
        "get" => &[
            ("c360 get 42", "Customer 42's profile, for a person."),
            (
                "c360 get 42 --sections billing,orders --json",
                "Two sections, as JSON (the proto3 mapping).",
            ),
            (
                "C360_TOKEN=… c360 get 42 --addr https://c360.internal:50051 -v",
                "Over TLS, with the headers and trailers on stderr.",
            ),
        ],
        "watch" => &[(
            "c360 watch 42 --sections shipments",
            "Follow a customer's parcels until Ctrl-C.",
        )],
        "lookup" => &[
            (
                "c360 lookup --phone '+44 20 7946 0018'",
                "Find customers by phone, in any notation.",
            ),
            (
                "c360 lookup --email ann@example.com --json",
                "By email, as JSON.",
            ),
        ],
        "invalidate" => &[(
            "c360 invalidate 42 43",
            "Drop two customers from every replica's caches.",
        )],
        "stats" => &[(
            "c360 stats --json | jq .l1",
            "L1's figures, every counter present.",
        )],
        _ => &[(
            "c360 top --interval 2s",
            "Follow a replica's figures every two seconds.",
        )],
    }
}
