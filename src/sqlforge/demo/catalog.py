"""What the demo's databases are made of: concepts (a kind of table, with the names it can go by and the
columns it can have) and domains (which concepts a database holds and how they are linked).

A concept's last table name is held out of train: dev databases use only held-out names, train
databases never do, so no dev SQL can name a table train has seen and the model must read the
schema in its prompt (as on Spider and BIRD, whose dev databases are not in train).
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES = ("Ava", "Liam", "Mia", "Noah", "Emma", "Oliver", "Sofia", "Lucas", "Chloe", "Ethan", "Grace",
               "Henry", "Isla", "Jack", "Lily", "Mason", "Nora", "Owen", "Ruby", "Samuel", "Zoe", "Adam",
               "Bella", "Caleb", "Diana", "Felix", "Hannah", "Ivan", "Julia", "Leo")
LAST_NAMES = ("Smith", "Garcia", "Brown", "Nguyen", "Patel", "Kim", "Lopez", "Miller", "Davis", "Wilson",
              "Moore", "Taylor", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott",
              "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell")
ADJECTIVES = ("Silent", "Golden", "Hidden", "Broken", "Distant", "Crimson", "Quiet", "Endless", "Frozen",
              "Burning", "Lost", "Wild", "Bright", "Dark", "Secret")
NOUNS = ("River", "Garden", "Empire", "Voyage", "Mountain", "Harbor", "Forest", "Mirror", "Kingdom", "Island",
         "Shadow", "Storm", "Bridge", "Letter", "Dream")
CITIES = ("Boston", "Chicago", "Denver", "Austin", "Seattle", "Miami", "Portland", "Atlanta", "Phoenix", "Dallas")
COUNTRIES = ("France", "Japan", "Brazil", "Canada", "Kenya", "India", "Spain", "Mexico", "Norway", "Chile")


# Words a database puts before a table's name ("regional_clinic", "Regional clinics"), and before a column's
# ("recorded_age"); train and dev draw from disjoint lists, so a model cannot recall which names a new
# database uses: it has to copy them from the schema and the question.
TABLE_QUALIFIERS = {
    "train": ("north", "south", "east", "west", "central", "city", "county", "state", "local", "global", "main",
              "old", "new", "senior", "junior", "public", "private", "annual", "summer", "winter", "spring",
              "autumn", "night", "day", "online", "partner", "premium", "standard", "archived", "active", "current",
              "former", "visiting", "regional", "national", "urban", "rural", "coastal", "mountain", "river",
              "lake", "harbor", "valley", "forest", "desert", "island", "metro", "campus", "downtown", "uptown"),
    "dev": ("alpine", "arctic", "tropical", "lunar", "solar", "crystal", "velvet", "copper", "silver", "amber",
            "cobalt", "ivory", "maple", "cedar", "willow", "granite", "marble", "orchid", "saffron", "indigo"),
}
COLUMN_QUALIFIERS = {
    "train": ("total", "recorded", "listed", "reported", "base", "official", "current", "initial", "final",
              "average", "declared", "measured", "estimated", "registered", "stated"),
    "dev": ("verified", "audited", "logged", "nominal", "certified"),
}


@dataclass(frozen=True)
class Attr:
    """A non-key column a concept can have: its name variants (snake case), its words in questions,
    its role (name: the concept's label; cat: a category; num: a number), SQL type and value generator
    (demo.schemas.values)."""
    names: tuple[str, ...]
    nl: str
    role: str
    type: str
    gen: tuple


@dataclass(frozen=True)
class Concept:
    key: str
    tables: tuple[tuple[str, str, str], ...]  # (table name, singular, plural); the last is for dev only
    rows: tuple[int, int]
    label: Attr | None  # the name-role column (none for an event table)
    attrs: tuple[Attr, ...]  # categories and numbers; a database takes two to four of them


@dataclass(frozen=True)
class Link:
    """child -> parent by a foreign key: '<child plural> <phrase> the <parent> X'."""
    child: str
    parent: str
    phrase: str


@dataclass(frozen=True)
class Event:
    """left <- event -> right, a bridge table of its own: '<left plural> that <verb> the <right> X'."""
    event: str
    left: str
    right: str
    verb: str


@dataclass(frozen=True)
class Domain:
    key: str
    concepts: tuple[str, ...]  # parents before children
    links: tuple[Link, ...] = ()
    events: tuple[Event, ...] = ()


def person(*names: str) -> Attr:
    return Attr(names or ("name", "full_name"), "name", "name", "TEXT", ("person",))


def titled(nl: str, *names: str) -> Attr:
    return Attr(names, nl, "name", "TEXT", ("title",))


def branded(suffix: str, *names: str) -> Attr:
    return Attr(names or ("name",), "name", "name", "TEXT", ("brand", suffix))


def cat(nl: str, values: tuple, *names: str) -> Attr:
    return Attr(names or (nl.replace(" ", "_"),), nl, "cat", "TEXT", ("choice", values))


def num(nl: str, lo: int, hi: int, scale: int = 1, *names: str) -> Attr:
    return Attr(names or (nl.replace(" ", "_"),), nl, "num", "INTEGER", ("int", lo, hi, scale))


def real(nl: str, lo: int, hi: int, *names: str) -> Attr:
    return Attr(names or (nl.replace(" ", "_"),), nl, "num", "REAL", ("real", lo, hi))


CITY = cat("city", CITIES, "city", "home_city", "town")
COUNTRY = cat("country", COUNTRIES, "country", "nation")
AGE = num("age", 18, 80, 1, "age", "age_years")
EVENT_ROWS = (60, 150)

CONCEPTS: tuple[Concept, ...] = (
    Concept("student", (("student", "student", "students"), ("pupil", "pupil", "pupils"),
                        ("learner", "learner", "learners")), (30, 60),
            person(), (CITY, num("age", 16, 30, 1, "age"), num("credits earned", 0, 180, 1, "credits"),
                       cat("major", ("Physics", "History", "Biology", "Law", "Art"), "major", "field"))),
    Concept("teacher", (("teacher", "teacher", "teachers"), ("instructor", "instructor", "instructors"),
                        ("lecturer", "lecturer", "lecturers")), (10, 25),
            person(), (num("salary", 30, 150, 1000, "salary", "pay"), cat("rank", ("Professor", "Associate",
                                                                                   "Assistant"), "rank", "grade"),
                       num("hire year", 1985, 2023, 1, "hire_year", "year_hired"))),
    Concept("course", (("course", "course", "courses"), ("class", "class", "classes"),
                       ("module", "module", "modules")), (15, 40),
            titled("title", "title", "course_name"),
            (cat("level", ("Intro", "Intermediate", "Advanced"), "level", "difficulty"),
             num("credits", 1, 6, 1, "credits", "credit_points"))),
    Concept("doctor", (("doctor", "doctor", "doctors"), ("physician", "physician", "physicians"),
                       ("medic", "medic", "medics")), (10, 25),
            person(), (cat("specialty", ("Cardiology", "Neurology", "Pediatrics", "Oncology", "Surgery"),
                           "specialty", "department"),
                       num("years of experience", 1, 40, 1, "experience_years", "years_practising"))),
    Concept("patient", (("patient", "patient", "patients"), ("client", "client", "clients"),
                        ("case_file", "case file", "case files")), (30, 60),
            person(), (CITY, num("age", 1, 95, 1, "age"),
                       cat("blood type", ("A", "B", "AB", "O"), "blood_type"))),
    Concept("customer", (("customer", "customer", "customers"), ("shopper", "shopper", "shoppers"),
                         ("buyer", "buyer", "buyers"), ("patron", "patron", "patrons")), (30, 60),
            person(), (CITY, AGE, cat("membership level", ("gold", "silver", "bronze"), "tier", "membership"))),
    Concept("product", (("product", "product", "products"), ("item", "item", "items"),
                        ("article", "article", "articles"), ("good", "good", "goods")), (20, 40),
            Attr(("name", "product_name"), "name", "name", "TEXT", ("pick", (
                "Laptop", "Phone", "Tablet", "Camera", "Blender", "Toaster", "Kettle", "Desk Lamp", "Backpack",
                "Headphones", "Monitor", "Keyboard", "Drill", "Hammer", "Rake", "Shovel", "Puzzle", "Kite",
                "Robot Kit", "Board Game", "Novel", "Cookbook", "Atlas", "Notebook", "Pan", "Knife Set",
                "Mixer", "Speaker", "Watch", "Printer", "Tent", "Lantern", "Scooter", "Guitar", "Easel",
                "Telescope", "Compass", "Umbrella", "Wallet", "Helmet"))),
            (cat("category", ("Electronics", "Books", "Garden", "Toys", "Kitchen"), "category", "kind"),
             num("price", 5, 900, 1, "price", "list_price"), num("stock", 0, 300, 1, "stock", "units_in_stock"))),
    Concept("author", (("author", "author", "authors"), ("writer", "writer", "writers"),
                       ("novelist", "novelist", "novelists")), (15, 30),
            person(), (COUNTRY, num("birth year", 1900, 1995, 1, "birth_year", "born"))),
    Concept("book", (("book", "book", "books"), ("title_record", "title record", "title records"),
                     ("volume", "volume", "volumes")), (30, 60),
            titled("title", "title", "book_title"),
            (cat("genre", ("Mystery", "Fantasy", "Romance", "Poetry", "Science"), "genre"),
             num("pages", 80, 900, 1, "pages", "page_count"), num("publication year", 1950, 2023, 1, "pub_year"))),
    Concept("member", (("member", "member", "members"), ("subscriber", "subscriber", "subscribers"),
                       ("cardholder", "cardholder", "cardholders")), (20, 40),
            person(), (CITY, num("age", 12, 85, 1, "age"))),
    Concept("team", (("team", "team", "teams"), ("club", "club", "clubs"), ("squad", "squad", "squads"),
                     ("franchise", "franchise", "franchises")), (8, 14),
            Attr(("name", "team_name"), "name", "name", "TEXT", ("pick", (
                "Falcons", "Tigers", "Sharks", "Wolves", "Eagles", "Bears", "Hornets", "Comets", "Rangers",
                "Pirates", "Giants", "Lions", "Ravens", "Storm"))),
            (CITY, num("founded year", 1880, 2010, 1, "founded", "year_founded"),
             num("titles", 0, 30, 1, "titles", "championships"))),
    Concept("athlete", (("player", "player", "players"), ("athlete", "athlete", "athletes"),
                        ("competitor", "competitor", "competitors")), (40, 80),
            person(), (cat("position", ("Guard", "Forward", "Center", "Keeper"), "position", "role"),
                       num("age", 18, 40, 1, "age"), num("salary", 100, 900, 1000, "salary", "wage"))),
    Concept("coach", (("coach", "coach", "coaches"), ("trainer", "trainer", "trainers"),
                      ("mentor", "mentor", "mentors")), (8, 14),
            person(), (cat("nationality", ("Spain", "Italy", "Germany", "Mexico"), "nationality"),
                       num("years", 1, 25, 1, "years", "tenure"))),
    Concept("artist", (("artist", "artist", "artists"), ("musician", "musician", "musicians"),
                       ("performer", "performer", "performers")), (15, 30),
            person(), (COUNTRY, cat("genre", ("Jazz", "Rock", "Pop", "Folk", "Blues"), "genre", "style"),
                       num("debut year", 1960, 2020, 1, "debut_year"))),
    Concept("album", (("album", "album", "albums"), ("record", "record", "records"),
                      ("release", "release", "releases")), (20, 50),
            titled("title", "title", "album_title"),
            (num("release year", 1960, 2023, 1, "release_year", "year"), num("tracks", 6, 20, 1, "tracks"),
             cat("label", ("Apex", "Orbit", "Velvet", "Summit"), "label", "record_label"))),
    Concept("director", (("director", "director", "directors"), ("filmmaker", "filmmaker", "filmmakers"),
                         ("auteur", "auteur", "auteurs")), (10, 25),
            person(), (COUNTRY, num("awards", 0, 12, 1, "awards", "award_count"))),
    Concept("movie", (("movie", "movie", "movies"), ("film", "film", "films"), ("picture", "picture", "pictures")),
            (30, 60), titled("title", "title", "movie_title"),
            (cat("rating", ("G", "PG", "PG-13", "R"), "rating", "certificate"),
             num("running time", 80, 190, 1, "runtime", "minutes"), num("budget", 1, 200, 1000000, "budget"))),
    Concept("actor", (("actor", "actor", "actors"), ("star", "star", "stars"), ("cast_member", "cast member",
                                                                                  "cast members")), (25, 50),
            person(), (AGE, COUNTRY)),
    Concept("airline", (("airline", "airline", "airlines"), ("carrier", "carrier", "carriers"),
                        ("operator", "operator", "operators")), (6, 12),
            branded("Air", "name", "airline_name"),
            (COUNTRY, num("fleet size", 5, 300, 1, "fleet_size", "fleet"))),
    Concept("aircraft", (("aircraft", "aircraft", "aircraft"), ("plane", "plane", "planes"),
                         ("jet", "jet", "jets")), (20, 45),
            Attr(("model", "name"), "model", "name", "TEXT", ("code", "AX")),
            (num("seats", 50, 400, 1, "seats", "capacity"), num("range", 1000, 9000, 1, "range_km"),
             cat("maker", ("Boeing", "Airbus", "Embraer"), "maker", "manufacturer"))),
    Concept("hotel", (("hotel", "hotel", "hotels"), ("inn", "inn", "inns"), ("lodge", "lodge", "lodges"),
                      ("resort", "resort", "resorts")), (8, 16),
            branded("Hotel", "name", "hotel_name"),
            (CITY, num("stars", 1, 5, 1, "stars", "star_rating"), num("rooms", 20, 400, 1, "rooms", "room_count"))),
    Concept("guest", (("guest", "guest", "guests"), ("visitor", "visitor", "visitors"),
                      ("traveler", "traveler", "travelers")), (30, 60),
            person(), (COUNTRY, AGE)),
    Concept("restaurant", (("restaurant", "restaurant", "restaurants"), ("eatery", "eatery", "eateries"),
                           ("diner", "diner", "diners"), ("bistro", "bistro", "bistros")), (8, 16),
            branded("Kitchen", "name", "restaurant_name"),
            (CITY, cat("cuisine", ("Thai", "Italian", "Mexican", "French", "Indian"), "cuisine", "food_type"),
             num("seats", 10, 200, 1, "seats"))),
    Concept("chef", (("chef", "chef", "chefs"), ("cook", "cook", "cooks"), ("sous_chef", "sous chef",
                                                                             "sous chefs")), (10, 25),
            person(), (num("years of experience", 1, 35, 1, "experience", "years_cooking"),
                       cat("station", ("Grill", "Pastry", "Sauce", "Prep"), "station"))),
    Concept("dish", (("dish", "dish", "dishes"), ("meal", "meal", "meals"), ("plate", "plate", "plates")), (20, 40),
            Attr(("name", "dish_name"), "name", "name", "TEXT", ("pick", (
                "Pad Thai", "Lasagna", "Tacos", "Ratatouille", "Curry", "Risotto", "Ramen", "Paella", "Gumbo",
                "Pho", "Burrito", "Gnocchi", "Falafel", "Goulash", "Sushi", "Dumplings", "Chili", "Quiche",
                "Biryani", "Moussaka", "Tagine", "Pierogi", "Ceviche", "Satay", "Fondue", "Borscht", "Kebab",
                "Pozole", "Laksa", "Couscous", "Empanada", "Carbonara", "Tempura", "Shakshuka", "Polenta",
                "Bibimbap", "Croquette", "Frittata", "Gazpacho", "Arepa"))),
            (num("price", 5, 60, 1, "price", "menu_price"), num("calories", 200, 1500, 1, "calories"),
             cat("course", ("Starter", "Main", "Dessert"), "course_type", "menu_section"))),
    Concept("department", (("department", "department", "departments"), ("division", "division", "divisions"),
                           ("unit", "unit", "units")), (5, 10),
            Attr(("name", "dept_name"), "name", "name", "TEXT", ("pick", (
                "Sales", "Finance", "Research", "Legal", "Support", "Marketing", "Logistics", "Design",
                "Security", "Training"))),
            (num("budget", 50, 900, 1000, "budget"), cat("floor", ("First", "Second", "Third"), "floor", "wing"))),
    Concept("employee", (("employee", "employee", "employees"), ("staff", "staff member", "staff members"),
                         ("worker", "worker", "workers"), ("associate", "associate", "associates")), (30, 60),
            person(), (num("salary", 30, 200, 1000, "salary", "annual_pay"), AGE,
                       cat("role", ("Analyst", "Engineer", "Manager", "Clerk"), "role", "job_title"))),
    Concept("project", (("project", "project", "projects"), ("initiative", "initiative", "initiatives"),
                        ("venture", "venture", "ventures")), (10, 25),
            titled("name", "name", "project_name"),
            (num("budget", 10, 500, 1000, "budget", "funding"), cat("status", ("active", "paused", "done"),
                                                                     "status", "phase"))),
    Concept("zoo", (("zoo", "zoo", "zoos"), ("park", "park", "parks"), ("sanctuary", "sanctuary", "sanctuaries")),
            (5, 10), branded("Zoo", "name", "zoo_name"),
            (CITY, num("area", 10, 400, 1, "area", "hectares"), num("opened", 1900, 2015, 1, "opened", "year_opened"))),
    Concept("animal", (("animal", "animal", "animals"), ("creature", "creature", "creatures"),
                       ("specimen", "specimen", "specimens")), (30, 70),
            Attr(("name", "nickname"), "name", "name", "TEXT", ("pick", (
                "Bella", "Max", "Luna", "Rocky", "Coco", "Simba", "Nala", "Zara", "Milo", "Kiki", "Bruno", "Daisy",
                "Rex", "Pepper", "Olive", "Ziggy", "Tank", "Juno", "Otis", "Pip", "Mango", "Storm", "Biscuit",
                "Ruby", "Atlas", "Echo", "Fig", "Hazel", "Iggy", "Jet", "Kona", "Loki", "Moss", "Nova", "Onyx",
                "Peach", "Quill", "Rusty", "Sage", "Taro", "Umber", "Vega", "Willow", "Yuki", "Zephyr", "Acorn",
                "Blaze", "Cinder", "Dune", "Ember", "Flint", "Gale", "Hopper", "Ivy", "Jasper", "Kit", "Lark",
                "Maple", "Nutmeg", "Oak", "Pebble", "Quartz", "Reed", "Sprout", "Thistle", "Uma", "Violet",
                "Wren", "Yarrow", "Zinnia"))),
            (cat("species", ("Lion", "Zebra", "Otter", "Parrot", "Tortoise", "Panda"), "species", "kind"),
             num("age", 1, 40, 1, "age"), num("weight", 1, 900, 1, "weight", "weight_kg"))),
    Concept("keeper", (("keeper", "keeper", "keepers"), ("caretaker", "caretaker", "caretakers"),
                       ("handler", "handler", "handlers")), (8, 20),
            person(), (num("years", 1, 30, 1, "years", "years_service"),
                       cat("shift", ("Morning", "Evening", "Night"), "shift"))),
    Concept("museum", (("museum", "museum", "museums"), ("gallery", "gallery", "galleries"),
                       ("exhibition_hall", "exhibition hall", "exhibition halls")), (5, 10),
            branded("Museum", "name", "museum_name"),
            (CITY, num("visitors", 1000, 90000, 1, "visitors", "annual_visitors"))),
    Concept("artwork", (("artwork", "artwork", "artworks"), ("painting", "painting", "paintings"),
                        ("piece", "piece", "pieces")), (30, 60),
            titled("title", "title", "artwork_title"),
            (num("year", 1500, 2020, 1, "year", "year_made"), cat("medium", ("Oil", "Watercolor", "Bronze", "Marble"),
                                                                 "medium", "material"),
             num("value", 1, 900, 1000, "value", "estimated_value"))),
    Concept("researcher", (("researcher", "researcher", "researchers"), ("scientist", "scientist", "scientists"),
                           ("scholar", "scholar", "scholars")), (20, 40),
            person(), (COUNTRY, num("h index", 1, 90, 1, "h_index"))),
    Concept("paper", (("paper", "paper", "papers"), ("article", "article", "articles"),
                      ("publication", "publication", "publications")), (30, 60),
            titled("title", "title", "paper_title"),
            (num("citations", 0, 900, 1, "citations", "cited_by"), num("year", 1995, 2024, 1, "year", "pub_year"),
             cat("field", ("Vision", "Language", "Robotics", "Theory"), "field", "area"))),
    Concept("venue", (("conference", "conference", "conferences"), ("venue", "venue", "venues"),
                      ("symposium", "symposium", "symposia")), (5, 10),
            Attr(("name", "acronym"), "name", "name", "TEXT", ("code", "CONF")),
            (CITY, num("attendees", 100, 9000, 1, "attendees"))),
    Concept("dealer", (("dealer", "dealer", "dealers"), ("dealership", "dealership", "dealerships"),
                       ("showroom", "showroom", "showrooms")), (5, 10),
            branded("Motors", "name", "dealer_name"), (CITY, num("rating", 1, 5, 1, "rating", "stars"))),
    Concept("car", (("car", "car", "cars"), ("vehicle", "vehicle", "vehicles"), ("automobile", "automobile",
                                                                                   "automobiles")), (30, 60),
            Attr(("model", "name"), "model", "name", "TEXT", ("code", "CR")),
            (num("price", 5, 90, 1000, "price", "sticker_price"), num("year", 2000, 2024, 1, "year", "model_year"),
             cat("color", ("Red", "Blue", "Black", "White", "Silver"), "color", "paint"))),
    Concept("studio", (("studio", "studio", "studios"), ("developer", "developer", "developers"),
                       ("publisher", "publisher", "publishers")), (5, 10),
            branded("Games", "name", "studio_name"), (COUNTRY, num("employees", 5, 900, 1, "employees", "headcount"))),
    Concept("game", (("game", "game", "games"), ("title", "title", "titles"), ("release_title", "release title",
                                                                              "release titles")), (20, 45),
            titled("name", "name", "game_name"),
            (cat("genre", ("Puzzle", "Racing", "Strategy", "Shooter"), "genre"), num("score", 40, 99, 1, "score",
                                                                                      "review_score"),
             real("price", 5, 70, "price"))),
)

# event concepts: bridge tables, no label column
EVENTS: tuple[Concept, ...] = (
    Concept("enrollment", (("enrollment", "enrollment", "enrollments"), ("registration", "registration",
                                                                         "registrations"),
                           ("course_signup", "course signup", "course signups")), EVENT_ROWS,
            None, (num("grade", 0, 100, 1, "grade", "score"), cat("term", ("Fall", "Spring"), "term", "semester"))),
    Concept("appointment", (("appointment", "appointment", "appointments"), ("visit", "visit", "visits"),
                            ("consultation", "consultation", "consultations")), EVENT_ROWS,
            None, (num("fee", 50, 500, 10, "fee", "charge"), cat("status", ("scheduled", "completed",
                                                                               "cancelled"), "status"))),
    Concept("purchase", (("purchase", "purchase", "purchases"), ("order", "order", "orders"),
                         ("transaction_record", "transaction", "transactions")), EVENT_ROWS,
            None, (num("quantity", 1, 10, 1, "quantity", "qty"), cat("channel", ("online", "store", "phone"),
                                                                         "channel"))),
    Concept("loan", (("loan", "loan", "loans"), ("checkout", "checkout", "checkouts"), ("borrowing", "borrowing",
                                                                                      "borrowings")), EVENT_ROWS,
            None, (num("days", 1, 60, 1, "days", "loan_days"),)),
    Concept("casting", (("casting", "casting", "castings"), ("role", "role", "roles"), ("appearance", "appearance",
                                                                                      "appearances")), EVENT_ROWS,
            None, (num("screen minutes", 1, 120, 1, "screen_minutes", "minutes_on_screen"),)),
    Concept("booking", (("booking", "booking", "bookings"), ("reservation", "reservation", "reservations"),
                        ("stay", "stay", "stays")), EVENT_ROWS,
            None, (num("nights", 1, 14, 1, "nights"), num("total cost", 80, 4000, 1, "total_cost", "amount"))),
    Concept("assignment", (("assignment", "assignment", "assignments"), ("allocation", "allocation",
                                                                         "allocations"),
                           ("staffing", "staffing", "staffings")), EVENT_ROWS,
            None, (num("hours", 1, 400, 1, "hours", "hours_logged"),)),
    Concept("authorship", (("authorship", "authorship", "authorships"), ("writes", "writing", "writings"),
                           ("contribution", "contribution", "contributions")), EVENT_ROWS,
            None, (num("position", 1, 8, 1, "author_position", "rank_order"),)),
    Concept("sale", (("sale", "sale", "sales"), ("deal", "deal", "deals"), ("contract", "contract", "contracts")),
            EVENT_ROWS, None, (num("discount", 0, 30, 1, "discount", "discount_pct"),
                                   cat("payment", ("cash", "loan", "lease"), "payment", "payment_type"))),
    Concept("performance", (("performance", "performance", "performances"), ("gig", "gig", "gigs"),
                            ("show", "show", "shows")), EVENT_ROWS,
            None, (num("audience", 50, 5000, 1, "audience", "attendance"),)),
)

DOMAINS: tuple[Domain, ...] = (
    Domain("school", ("teacher", "course", "student"), (Link("course", "teacher", "are taught by"),),
           (Event("enrollment", "student", "course", "took"),)),
    Domain("clinic", ("doctor", "patient"), (), (Event("appointment", "patient", "doctor", "visited"),)),
    Domain("shop", ("customer", "product"), (), (Event("purchase", "customer", "product", "bought"),)),
    Domain("library", ("author", "book", "member"), (Link("book", "author", "were written by"),),
           (Event("loan", "member", "book", "borrowed"),)),
    Domain("league", ("team", "athlete", "coach"), (Link("athlete", "team", "play for"), Link("coach", "team", "coach"))),
    Domain("music", ("artist", "album"), (Link("album", "artist", "were released by"),)),
    Domain("cinema", ("director", "movie", "actor"), (Link("movie", "director", "were directed by"),),
           (Event("casting", "actor", "movie", "appeared in"),)),
    Domain("aviation", ("airline", "aircraft"), (Link("aircraft", "airline", "are operated by"),)),
    Domain("travel", ("hotel", "guest"), (), (Event("booking", "guest", "hotel", "stayed at"),)),
    Domain("dining", ("restaurant", "chef", "dish"), (Link("chef", "restaurant", "work at"),
                                                      Link("dish", "restaurant", "are served at"))),
    Domain("company", ("department", "employee", "project"), (Link("employee", "department", "work in"),),
           (Event("assignment", "employee", "project", "worked on"),)),
    Domain("zoo", ("zoo", "animal", "keeper"), (Link("animal", "zoo", "live in"), Link("keeper", "zoo", "work at"))),
    Domain("art", ("museum", "artwork"), (Link("artwork", "museum", "are shown at"),)),
    Domain("research", ("venue", "researcher", "paper"), (Link("paper", "venue", "were presented at"),),
           (Event("authorship", "researcher", "paper", "wrote"),)),
    Domain("cars", ("dealer", "car", "customer"), (Link("car", "dealer", "are sold by"),),
           (Event("sale", "customer", "car", "purchased"),)),
    Domain("gaming", ("studio", "game"), (Link("game", "studio", "were made by"),)),
    Domain("concerts", ("artist", "venue"), (), (Event("performance", "artist", "venue", "performed at"),)),
    Domain("hospital", ("department", "doctor", "patient"), (Link("doctor", "department", "work in"),),
           (Event("appointment", "patient", "doctor", "visited"),)),
)
