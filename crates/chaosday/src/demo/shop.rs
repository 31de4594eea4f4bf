//! The shop's layout: its services, the links between them, the teams that run them, and
//! the ports of one run (a block of 16 from `--shop-port`).
//!
//! ```text
//!  clients ─storefront-link─▶ storefront ─catalog-link─▶ catalog
//!  (http)                          └──────(direct)─────▶ catalog-spare   (failover)
//!  clients ─cart-link──────▶ cart ─stock-link (tcp)─▶ stock
//! ```
//!
//! With `demo --docker` the services are containers ([`super::docker`]): the front doors
//! (`storefront-link`, `cart-link`) are still the game's proxied links on the host, in front
//! of the containers' published ports, but the services call each other directly by
//! container name on the demo's network, so `catalog-link` and `stock-link` are paths on
//! that network rather than proxied links (no port of their own, no link target).

use std::path::{Path, PathBuf};

use chaosday_domain::Supervision;

use super::docker::Layout;

/// What a service does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The web front: `/products` asks the catalog for its items (or the spare, failed over).
    Storefront,
    /// A catalog: `/items`; its config file can be broken (the manual scenario).
    Catalog,
    /// The cart: `/checkout` asks the stock, over plain TCP (one HTTP/1.0 request per
    /// connection, read to the end), so that every byte-level fault shows.
    Cart,
    /// The stock: `/stock`, an 8 KB answer streamed in pieces.
    Stock,
}

/// One service of the shop.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    /// Its name: the game's logical target and the monitoring page's row.
    pub name: &'static str,
    /// What it does.
    pub role: Role,
    /// Its port, from the shop's first port.
    pub offset: u16,
    /// The system (and team) it belongs to.
    pub system: &'static str,
    /// One line for people.
    pub about: &'static str,
}

/// The shop's services.
pub const SERVICES: [ServiceSpec; 5] = [
    ServiceSpec {
        name: "storefront",
        role: Role::Storefront,
        offset: 1,
        system: "storefront",
        about: "the web front: lists the products it gets from the catalog",
    },
    ServiceSpec {
        name: "catalog",
        role: Role::Catalog,
        offset: 2,
        system: "storefront",
        about: "the product catalog, behind catalog-link",
    },
    ServiceSpec {
        name: "catalog-spare",
        role: Role::Catalog,
        offset: 3,
        system: "storefront",
        about: "a spare catalog, reached directly: the storefront can fail over to it",
    },
    ServiceSpec {
        name: "cart",
        role: Role::Cart,
        offset: 4,
        system: "cart",
        about: "checkout: reserves the items with the stock",
    },
    ServiceSpec {
        name: "stock",
        role: Role::Stock,
        offset: 5,
        system: "cart",
        about: "the stock levels, behind stock-link (plain TCP)",
    },
];

/// A link between two parts of the shop (a proxied connection of the game), or the direct
/// path to the spare.
#[derive(Debug, Clone, Copy)]
pub struct LinkSpec {
    /// Its name: the game's logical target (but for the direct path) and the page's row.
    pub name: &'static str,
    /// Who calls through it: `clients` (the load generator) or a service.
    pub from: &'static str,
    /// The service it leads to.
    pub to: &'static str,
    /// Its listening port, from the shop's first port; `None` for the direct path.
    pub offset: Option<u16>,
    /// Whether it carries HTTP (`http_error`, `http_delay` act on it) or bytes.
    pub http: bool,
    /// The system (and team) it belongs to.
    pub system: &'static str,
}

/// The shop's links, in the order the monitoring page shows them.
pub const LINKS: [LinkSpec; 5] = [
    LinkSpec {
        name: "storefront-link",
        from: "clients",
        to: "storefront",
        offset: Some(11),
        http: true,
        system: "storefront",
    },
    LinkSpec {
        name: "catalog-link",
        from: "storefront",
        to: "catalog",
        offset: Some(12),
        http: true,
        system: "storefront",
    },
    LinkSpec {
        name: "catalog-spare",
        from: "storefront",
        to: "catalog-spare",
        offset: None,
        http: true,
        system: "storefront",
    },
    LinkSpec {
        name: "cart-link",
        from: "clients",
        to: "cart",
        offset: Some(14),
        http: true,
        system: "cart",
    },
    LinkSpec {
        name: "stock-link",
        from: "cart",
        to: "stock",
        offset: Some(15),
        http: false,
        system: "cart",
    },
];

/// The two teams and what each runs (the game's `owns`).
pub const TEAMS: [(&str, &[&str]); 2] = [
    (
        "storefront",
        &[
            "storefront",
            "catalog",
            "catalog-spare",
            "storefront-link",
            "catalog-link",
        ],
    ),
    ("cart", &["cart", "stock", "cart-link", "stock-link"]),
];

/// How many ports the shop takes from `--shop-port`.
pub const PORTS: u16 = 16;

/// The hidden command that runs one service.
pub const SHOP_COMMAND: &str = "__shop";

/// The service named `name`.
pub fn service(name: &str) -> Option<&'static ServiceSpec> {
    SERVICES.iter().find(|s| s.name == name)
}

/// The link named `name`.
pub fn link(name: &str) -> Option<&'static LinkSpec> {
    LINKS.iter().find(|l| l.name == name)
}

/// The targets `team` owns.
pub fn owned_by(team: &str) -> Option<&'static [&'static str]> {
    TEAMS
        .iter()
        .find(|(t, _)| *t == team)
        .map(|(_, owns)| *owns)
}

/// The shop of one run: the binary its services run, their directory, their ports, and
/// whether they run as containers.
#[derive(Debug, Clone)]
pub struct Shop {
    exe: PathBuf,
    dir: PathBuf,
    base: u16,
    docker: Option<Layout>,
}

impl Shop {
    /// The shop run by `exe`, with its files in `dir`, on the ports from `base`.
    pub fn new(exe: PathBuf, dir: PathBuf, base: u16) -> Result<Self, String> {
        if base < 1024 || base.checked_add(PORTS - 1).is_none() {
            return Err(format!(
                "--shop-port {base}: the shop needs {PORTS} ports from there, between 1024 and 65535; use one such as 18100"
            ));
        }
        Ok(Shop {
            exe,
            dir,
            base,
            docker: None,
        })
    }

    /// The same shop, its services run as the containers of `layout`.
    pub fn in_docker(self, layout: Layout) -> Self {
        Shop {
            docker: Some(layout),
            ..self
        }
    }

    /// The Docker names of the shop, when its services run as containers.
    pub fn docker(&self) -> Option<&Layout> {
        self.docker.as_ref()
    }

    /// The shop's directory (route and config files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port of the monitoring page and the ops API.
    pub fn monitor_port(&self) -> u16 {
        self.base
    }

    /// The monitoring page's address.
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.base)
    }

    /// The port a service listens on.
    pub fn service_port(&self, service: &ServiceSpec) -> u16 {
        self.base + service.offset
    }

    /// The port a link listens on (`None` for the direct path to the spare, and in Docker
    /// for the paths between services, which are the network's).
    pub fn link_port(&self, link: &LinkSpec) -> Option<u16> {
        if self.docker.is_some() && link.from != "clients" {
            return None;
        }
        link.offset.map(|offset| self.base + offset)
    }

    /// The address a link listens on.
    pub fn link_address(&self, name: &str) -> String {
        let port = link(name).and_then(|l| self.link_port(l)).unwrap_or(0);
        format!("127.0.0.1:{port}")
    }

    /// The address of a service.
    pub fn service_address(&self, name: &str) -> String {
        let port = service(name).map_or(0, |s| self.service_port(s));
        format!("127.0.0.1:{port}")
    }

    /// The targets `team` owns in this shop: its services, and its links that are proxied
    /// (in Docker, the paths between services are the network's, not targets).
    pub fn owned_by(&self, team: &str) -> Vec<&'static str> {
        owned_by(team)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|name| {
                service(name).is_some() || link(name).is_some_and(|l| self.link_port(l).is_some())
            })
            .collect()
    }

    /// Every port the demo's shop listens on, with what listens there.
    pub fn ports(&self) -> Vec<(String, u16)> {
        let mut ports = vec![("the shop's monitoring page".to_owned(), self.base)];
        ports.extend(
            SERVICES
                .iter()
                .map(|s| (format!("service {}", s.name), self.service_port(s))),
        );
        ports.extend(LINKS.iter().filter_map(|l| {
            self.link_port(l)
                .map(|port| (format!("link {}", l.name), port))
        }));
        ports
    }

    /// The command line of a service: the game supervises it by exactly this.
    pub fn argv(&self, service: &ServiceSpec) -> Vec<String> {
        let mut argv = vec![self.exe.display().to_string()];
        argv.extend(self.service_args(service));
        argv
    }

    /// A service's arguments after the binary (`__shop NAME --port P --dir DIR …`): a
    /// process calls the others through the links on 127.0.0.1; a container listens on
    /// every address of its own and calls the other containers by name.
    pub fn service_args(&self, service: &ServiceSpec) -> Vec<String> {
        let mut args = vec![
            SHOP_COMMAND.to_owned(),
            service.name.to_owned(),
            "--port".to_owned(),
            self.service_port(service).to_string(),
            "--dir".to_owned(),
            self.dir.display().to_string(),
        ];
        // Where a service calls `link` (which leads to `to`).
        let via = |link: &str, to: &str| match &self.docker {
            None => self.link_address(link),
            Some(layout) => self.peer_address(layout, to),
        };
        if self.docker.is_some() {
            args.extend(["--bind".to_owned(), "0.0.0.0".to_owned()]);
        }
        match service.role {
            Role::Storefront => {
                args.push("--upstream".into());
                args.push(format!(
                    "catalog-link=http://{}",
                    via("catalog-link", "catalog")
                ));
                args.push("--spare".into());
                args.push(format!(
                    "catalog-spare=http://{}",
                    match &self.docker {
                        None => self.service_address("catalog-spare"),
                        Some(layout) => self.peer_address(layout, "catalog-spare"),
                    }
                ));
            }
            Role::Cart => {
                args.push("--upstream".into());
                args.push(format!("stock-link={}", via("stock-link", "stock")));
            }
            Role::Catalog | Role::Stock => {}
        }
        args
    }

    /// A service's address on the demo's Docker network: its container's name and port.
    fn peer_address(&self, layout: &Layout, name: &str) -> String {
        let port = service(name).map_or(0, |s| self.service_port(s));
        format!("{}:{port}", layout.container(name))
    }

    /// How the game (and the ops tools) start a service.
    pub fn supervision(&self, service: &ServiceSpec) -> Supervision {
        Supervision {
            argv: self.argv(service),
            cwd: None,
            env: Default::default(),
        }
    }

    /// The storefront's route file: `primary` (catalog through catalog-link) or `spare`.
    pub fn route_file(&self) -> PathBuf {
        route_file(&self.dir)
    }

    /// A catalog's config file: `good` or `bad`.
    pub fn config_file(&self, service: &str) -> PathBuf {
        config_file(&self.dir, service)
    }
}

/// The storefront's route file in a shop directory.
pub fn route_file(dir: &Path) -> PathBuf {
    dir.join("storefront.route")
}

/// A service's config file in a shop directory.
pub fn config_file(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.config"))
}

/// Whether `argv` is a service of the shop whose directory is `dir`: what the next run
/// looks for to stop what a crashed one left behind (whatever binary ran it).
pub fn is_shop_process(argv: &[String], dir: &Path) -> bool {
    let dir = dir.display().to_string();
    argv.get(1).map(String::as_str) == Some(SHOP_COMMAND)
        && argv
            .windows(2)
            .any(|pair| pair[0] == "--dir" && pair[1] == dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Shop {
        Shop::new("/bin/chaosday".into(), "/tmp/demo/shop".into(), 18100).unwrap()
    }

    #[test]
    fn every_target_is_owned_by_exactly_one_team_and_exists() {
        let mut seen = Vec::new();
        for (_, owns) in TEAMS {
            for name in owns {
                assert!(service(name).is_some() || link(name).is_some(), "{name}");
                assert!(!seen.contains(name), "{name} owned twice");
                seen.push(name);
            }
        }
        for s in SERVICES {
            assert!(seen.contains(&s.name), "{} has no team", s.name);
        }
    }

    #[test]
    fn ports_are_distinct_and_within_the_block() {
        let shop = shop();
        let mut ports: Vec<u16> = shop.ports().into_iter().map(|(_, p)| p).collect();
        let count = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), count);
        assert!(ports.iter().all(|p| (18100..18100 + PORTS).contains(p)));
        assert!(Shop::new("x".into(), "y".into(), 65530).is_err());
        assert!(Shop::new("x".into(), "y".into(), 80).is_err());
    }

    #[test]
    fn a_shop_process_is_recognised_by_its_command_and_directory() {
        let shop = shop();
        let argv = shop.argv(service("storefront").unwrap());
        assert!(is_shop_process(&argv, Path::new("/tmp/demo/shop")));
        assert!(!is_shop_process(&argv, Path::new("/tmp/other/shop")));
        let mut other_binary = argv.clone();
        other_binary[0] = "/old/chaosday".into();
        assert!(is_shop_process(&other_binary, Path::new("/tmp/demo/shop")));
        assert!(!is_shop_process(
            &["sleep".into(), "__shop".into()],
            Path::new("/tmp/demo/shop")
        ));
        assert!(argv.contains(&"catalog-link=http://127.0.0.1:18112".to_owned()));
    }

    #[test]
    fn in_docker_the_services_call_each_other_by_container_name() {
        let layout = Layout::for_state_dir(Path::new("/tmp/demo"));
        let shop = shop().in_docker(layout.clone());
        let args = shop.service_args(service("storefront").unwrap());
        assert_eq!(&args[..2], ["__shop", "storefront"]);
        assert!(
            args.windows(2).any(|w| w == ["--bind", "0.0.0.0"]),
            "{args:?}"
        );
        let catalog = format!("catalog-link=http://{}:18102", layout.container("catalog"));
        assert!(args.contains(&catalog), "{args:?}");
        let cart = shop.service_args(service("cart").unwrap());
        let stock = format!("stock-link={}:18105", layout.container("stock"));
        assert!(cart.contains(&stock), "{cart:?}");
        // The front doors stay proxied links; the paths between services have no port.
        assert_eq!(
            shop.link_port(link("storefront-link").unwrap()),
            Some(18111)
        );
        assert_eq!(shop.link_port(link("catalog-link").unwrap()), None);
        assert_eq!(shop.link_port(link("stock-link").unwrap()), None);
        assert_eq!(shop.ports().len(), 1 + 5 + 2);
    }
}
