"""The in-domain demo: five fixed databases whose train and dev questions share every database.

`data.demo.layout: in_domain` generates questions over these five; it measures how well a model has
learnt these schemas, not text-to-SQL on a new one (`cross_database`, demo.catalog, does that).
"""

from __future__ import annotations

from sqlforge.demo.catalog import CITIES
from sqlforge.demo.schemas import Bridge, Col, Database, Relation, Table

DATABASES: tuple[Database, ...] = (
    Database(
        "university",
        (
            Table("department", "department", "departments", 8, (
                Col("dept_id", "INTEGER", "department id", "pk"),
                Col("name", "TEXT", "name", "name", ("pick", ("Physics", "Chemistry", "History", "Biology",
                                                              "Mathematics", "Economics", "Music", "Philosophy"))),
                Col("building", "TEXT", "building", "cat", ("choice", ("Watson", "Taylor", "Packard", "Lamberton"))),
                Col("budget", "INTEGER", "budget", "num", ("int", 50, 900, 1000)),
            )),
            Table("instructor", "instructor", "instructors", 40, (
                Col("instructor_id", "INTEGER", "instructor id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("dept_id", "INTEGER", "department id", "fk", ref="department"),
                Col("rank", "TEXT", "rank", "cat", ("choice", ("Professor", "Associate", "Assistant", "Lecturer"))),
                Col("salary", "INTEGER", "salary", "num", ("int", 40, 150, 1000)),
                Col("hire_year", "INTEGER", "hire year", "num", ("int", 1990, 2022, 1)),
            )),
            Table("course", "course", "courses", 40, (
                Col("course_id", "INTEGER", "course id", "pk"),
                Col("title", "TEXT", "title", "name", ("title",)),
                Col("dept_id", "INTEGER", "department id", "fk", ref="department"),
                Col("level", "TEXT", "level", "cat", ("choice", ("Intro", "Intermediate", "Advanced"))),
                Col("credits", "INTEGER", "credits", "num", ("int", 1, 6, 1)),
            )),
        ),
        relations=(Relation("instructor", "dept_id", "department", "work in"),
                   Relation("course", "dept_id", "department", "are offered by")),
    ),
    Database(
        "retail",
        (
            Table("customer", "customer", "customers", 40, (
                Col("customer_id", "INTEGER", "customer id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("city", "TEXT", "city", "cat", ("choice", CITIES)),
                Col("age", "INTEGER", "age", "num", ("int", 18, 80, 1)),
            )),
            Table("product", "product", "products", 30, (
                Col("product_id", "INTEGER", "product id", "pk"),
                Col("name", "TEXT", "name", "name", ("pick", (
                    "Laptop", "Phone", "Tablet", "Camera", "Blender", "Toaster", "Kettle", "Desk Lamp", "Backpack",
                    "Headphones", "Monitor", "Keyboard", "Drill", "Hammer", "Rake", "Shovel", "Puzzle", "Kite",
                    "Robot Kit", "Board Game", "Novel", "Cookbook", "Atlas", "Notebook", "Pan", "Knife Set",
                    "Mixer", "Speaker", "Watch", "Printer"))),
                Col("category", "TEXT", "category", "cat", ("choice", ("Electronics", "Books", "Garden", "Toys",
                                                                       "Kitchen"))),
                Col("price", "INTEGER", "price", "num", ("int", 5, 900, 1)),
            )),
            Table("purchase", "purchase", "purchases", 120, (
                Col("purchase_id", "INTEGER", "purchase id", "pk"),
                Col("customer_id", "INTEGER", "customer id", "fk", ref="customer"),
                Col("product_id", "INTEGER", "product id", "fk", ref="product"),
                Col("quantity", "INTEGER", "quantity", "num", ("int", 1, 10, 1)),
                Col("channel", "TEXT", "channel", "cat", ("choice", ("online", "store", "phone"))),
            )),
        ),
        bridges=(Bridge("purchase", "customer", "customer_id", "product", "product_id", "bought"),),
    ),
    Database(
        "library",
        (
            Table("author", "author", "authors", 25, (
                Col("author_id", "INTEGER", "author id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("country", "TEXT", "country", "cat", ("choice", ("France", "Japan", "Brazil", "Canada", "Kenya",
                                                                     "India"))),
                Col("birth_year", "INTEGER", "birth year", "num", ("int", 1900, 1995, 1)),
            )),
            Table("book", "book", "books", 60, (
                Col("book_id", "INTEGER", "book id", "pk"),
                Col("title", "TEXT", "title", "name", ("title",)),
                Col("author_id", "INTEGER", "author id", "fk", ref="author"),
                Col("genre", "TEXT", "genre", "cat", ("choice", ("Mystery", "Fantasy", "Romance", "Poetry",
                                                                 "Science"))),
                Col("pages", "INTEGER", "pages", "num", ("int", 80, 900, 1)),
            )),
            Table("member", "member", "members", 30, (
                Col("member_id", "INTEGER", "member id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("city", "TEXT", "city", "cat", ("choice", CITIES)),
                Col("age", "INTEGER", "age", "num", ("int", 12, 85, 1)),
            )),
            Table("loan", "loan", "loans", 120, (
                Col("loan_id", "INTEGER", "loan id", "pk"),
                Col("book_id", "INTEGER", "book id", "fk", ref="book"),
                Col("member_id", "INTEGER", "member id", "fk", ref="member"),
                Col("days", "INTEGER", "days", "num", ("int", 1, 60, 1)),
            )),
        ),
        relations=(Relation("book", "author_id", "author", "were written by"),),
        bridges=(Bridge("loan", "member", "member_id", "book", "book_id", "borrowed"),),
    ),
    Database(
        "hospital",
        (
            Table("doctor", "doctor", "doctors", 20, (
                Col("doctor_id", "INTEGER", "doctor id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("specialty", "TEXT", "specialty", "cat", ("choice", ("Cardiology", "Neurology", "Pediatrics",
                                                                         "Oncology", "Surgery"))),
                Col("experience_years", "INTEGER", "years of experience", "num", ("int", 1, 40, 1)),
            )),
            Table("patient", "patient", "patients", 50, (
                Col("patient_id", "INTEGER", "patient id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("city", "TEXT", "city", "cat", ("choice", CITIES)),
                Col("age", "INTEGER", "age", "num", ("int", 1, 95, 1)),
            )),
            Table("appointment", "appointment", "appointments", 150, (
                Col("appointment_id", "INTEGER", "appointment id", "pk"),
                Col("doctor_id", "INTEGER", "doctor id", "fk", ref="doctor"),
                Col("patient_id", "INTEGER", "patient id", "fk", ref="patient"),
                Col("fee", "INTEGER", "fee", "num", ("int", 50, 500, 10)),
                Col("status", "TEXT", "status", "cat", ("choice", ("scheduled", "completed", "cancelled"))),
            )),
        ),
        bridges=(Bridge("appointment", "patient", "patient_id", "doctor", "doctor_id", "visited"),),
    ),
    Database(
        "sports",
        (
            Table("team", "team", "teams", 12, (
                Col("team_id", "INTEGER", "team id", "pk"),
                Col("name", "TEXT", "name", "name", ("pick", ("Falcons", "Tigers", "Sharks", "Wolves", "Eagles",
                                                              "Bears", "Hornets", "Comets", "Rangers", "Pirates",
                                                              "Giants", "Lions"))),
                Col("city", "TEXT", "city", "cat", ("choice", CITIES)),
                Col("founded_year", "INTEGER", "founded year", "num", ("int", 1880, 2010, 1)),
            )),
            Table("player", "player", "players", 80, (
                Col("player_id", "INTEGER", "player id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("team_id", "INTEGER", "team id", "fk", ref="team"),
                Col("position", "TEXT", "position", "cat", ("choice", ("Guard", "Forward", "Center", "Keeper"))),
                Col("age", "INTEGER", "age", "num", ("int", 18, 40, 1)),
                Col("salary", "INTEGER", "salary", "num", ("int", 100, 900, 1000)),
            )),
            Table("coach", "coach", "coaches", 12, (
                Col("coach_id", "INTEGER", "coach id", "pk"),
                Col("name", "TEXT", "name", "name", ("person",)),
                Col("team_id", "INTEGER", "team id", "fk", ref="team"),
                Col("nationality", "TEXT", "nationality", "cat", ("choice", ("Spain", "Italy", "Germany", "Mexico"))),
                Col("years", "INTEGER", "years", "num", ("int", 1, 25, 1)),
            )),
        ),
        relations=(Relation("player", "team_id", "team", "play for"),
                   Relation("coach", "team_id", "team", "coach")),
    ),
)
