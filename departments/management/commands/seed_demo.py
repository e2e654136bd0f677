"""`manage.py seed_demo`: demo users, sources, posts and an API key for a first look.

Safe to run twice: users, memberships, sources, authors and posts are looked up before they
are created (posts through `feedback_ingest`, idempotent on external_id), so a second run
only resets the demo password and replaces the demo API key.
"""

from collections import Counter
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from departments.models import Case, Department, Membership
from feedback.models import ApiKey, FeedbackItem, Source
from feedback.services import apikey_create, apikey_revoke, feedback_ingest
from routing.services import items_route

DEFAULT_PASSWORD = "switchboard-demo"  # noqa: S105 (public by design: demo only)
API_KEY_NAME = "demo integration"
API_KEY_SOURCE = "web-form"
API_URL = "http://127.0.0.1:8000/api/v1/feedback/"

# slug, name, kind
DEMO_SOURCES = [
    ("x", "X", Source.Kind.X),
    ("app-store", "App Store", Source.Kind.APP_STORE),
    ("trustpilot", "Trustpilot", Source.Kind.TRUSTPILOT),
    ("reddit", "Reddit", Source.Kind.REDDIT),
    ("web-form", "Web form", Source.Kind.WEB_FORM),
    ("community-forum", "Community forum", Source.Kind.FORUM),
]


DEMO_RULES = [
    (
        "Job seekers to HR",
        10,
        [
            "are you hiring",
            "job opening",
            "internship",
            "apply for",
            "my application",
            "careers page",
        ],
        "hr",
    ),
    (
        "Promo codes to marketing",
        20,
        ["promo code", "discount code", "coupon", "voucher"],
        "marketing",
    ),
    (
        "Partnership enquiries to marketing",
        30,
        ["partnership", "collaboration", "sponsor", "influencer", "press enquiry"],
        "marketing",
    ),
    (
        "App bugs to product",
        40,
        ["app crashes", "crashes when", "bug", "dark mode", "feature request", "please add"],
        "product",
    ),
]


def _ago(hours: float) -> str:
    """An ISO timestamp `hours` before now, so the demo always looks like the last 14 days."""
    return (timezone.now() - timedelta(hours=hours)).isoformat()


def _author(handle: str, name: str = "", followers: int | None = None) -> dict:
    return {"handle": handle, "name": name, "followers": followers}


# Posts about "Skillet & Sprout", a fictional meal-kit delivery company with an app.
# Written for this demo; in the ingest payload shape the API accepts.
DEMO_POSTS: list[dict] = [
    # --- X -------------------------------------------------------------------------------
    {
        "source": "x",
        "external_id": "demo-001",
        "posted_at": _ago(3),
        "author": _author("jonas_bakes", "Jonas Richter", 312),
        "url": "https://x.com/jonas_bakes/status/1900000000000000001",
        "body": "@skilletsprout the app logs me out every time I switch to another app and back. "
        "Third time tonight I lost my whole basket. iPhone 15, latest version.",
    },
    {
        "source": "x",
        "external_id": "demo-002",
        "posted_at": _ago(20),
        "author": _author("meg_in_leeds", "Megan Holt", 1045),
        "body": "Box arrived at 11pm instead of the 5-7pm slot and everything in the chiller bag "
        "was lukewarm. Order SS-48213. Who do I talk to about a credit?",
    },
    {
        "source": "x",
        "external_id": "demo-003",
        "posted_at": _ago(7),
        "author": _author("thekitchenledger", "Priya Raman", 84200),
        "url": "https://x.com/thekitchenledger/status/1900000000000000003",
        "body": "Honest take after 6 weeks of @skilletsprout: the recipes are genuinely great "
        "(that miso aubergine!) but the promo code I gave my followers, FEAST40, is being "
        "rejected at checkout for half of them. People are DMing me. Sort it out please.",
    },
    {
        "source": "x",
        "external_id": "demo-004",
        "posted_at": _ago(150),
        "author": _author("carlos_onthepass", "Carlos Medina", 210),
        "body": "are you guys hiring? 8 years as a line cook and I would love to work in your "
        "recipe development kitchen",
    },
    {
        "source": "x",
        "external_id": "demo-005",
        "posted_at": _ago(1.5),
        "author": _author("dani_w", "Dani Whitfield", 1890),
        "url": "https://x.com/dani_w/status/1900000000000000005",
        "body": "Your site AND app have been down for over an hour, I can't change my delivery "
        "before tonight's cutoff. Is this an outage? Status page says all fine?? "
        "#skilletsprout",
    },
    {
        "source": "x",
        "external_id": "demo-006",
        "posted_at": _ago(44),
        "author": _author("ruthie_reads", "Ruth Okafor", 640),
        "body": "Shoutout to @skilletsprout - the driver actually read my note about the dog and "
        "left the box by the side gate. Small thing, made my day",
    },
    {
        "source": "x",
        "external_id": "demo-007",
        "posted_at": _ago(61),
        "author": _author("moon_drop_official", "Moon Drop", 12),
        "body": "CRYPTO GIVEAWAY!! Send 0.1 ETH and get 1 ETH back, click the link in bio, "
        "limited time only @skilletsprout @bbcnews @nasa",
    },
    {
        "source": "x",
        "external_id": "demo-008",
        "posted_at": _ago(230),
        "author": _author("anon_picker", "A former picker", 58),
        "body": "Ex-employee here. Night shift at the Dartford warehouse runs on fumes, we were "
        "told to skip our breaks during peak week. Not surprised the deliveries are late.",
    },
    {
        "source": "x",
        "external_id": "demo-009",
        "posted_at": _ago(96),
        "author": _author("greenforkgrace", "Grace Lindqvist", 4100),
        "body": "Hi @skilletsprout! I run a small plant-based recipe account (18k on Instagram) "
        "and would love to collaborate on a vegan week. Who handles partnerships?",
    },
    {
        "source": "x",
        "external_id": "demo-010",
        "posted_at": _ago(12),
        "author": _author("lucia_mrtz", "Lucía Martínez", 530),
        "body": "@skilletsprout me cobraron dos veces el pedido de esta semana y nadie responde "
        "en el chat. ¿Alguien me puede ayudar, por favor?",
    },
    {
        "source": "x",
        "external_id": "demo-011",
        "posted_at": _ago(5),
        "author": _author("tomasz_k", "Tomasz Kowalski", 2300),
        "url": "https://x.com/tomasz_k/status/1900000000000000011",
        "body": "Just got an email 'from Skillet & Sprout' asking me to re-enter my card details. "
        "It had my full name, address and my last order on it. Did you have a data "
        "breach?? Nobody else has that information.",
    },
    {
        "source": "x",
        "external_id": "demo-012",
        "posted_at": _ago(88),
        "author": _author("footy_fan_88", "Gaz", 95),
        "body": "who else is watching the match tonight, the refs have been shocking all season",
    },
    {
        "source": "x",
        "external_id": "demo-013",
        "posted_at": _ago(30),
        "author": _author("newtomealkits", "Sam Patel", 77),
        "body": "Is the 50% off your first box offer still on? The ad on Instagram says 50% but "
        "the website only gives me 30%.",
    },
    {
        "source": "x",
        "external_id": "demo-014",
        "posted_at": _ago(40),
        "author": _author("ruthie_reads", "Ruth Okafor", 640),
        "body": "@skilletsprout loving the new Thai green curry kit. Could you add a spice level "
        "filter in the app? My partner can't handle chilli at all",
    },
    {
        "source": "x",
        "external_id": "demo-015",
        "posted_at": _ago(130),
        "author": _author("kwame_cooks", "Kwame Asante", 880),
        "body": "@skilletsprout 4 boxes in a row with a missing recipe card. The app won't load "
        "the recipe offline either, and support just said 'we'll pass it on'. Great food, "
        "useless if I can't cook it.",
    },
    {
        "source": "x",
        "external_id": "demo-016",
        "posted_at": _ago(175),
        "author": _author("hollyoakroad", "Beth Carter", 150),
        "body": "Hey @skilletsprout, your delivery van has been parked across my driveway for 25 "
        "minutes again while the driver is on his phone. Third time this month.",
    },
    # --- App Store ----------------------------------------------------------------------
    {
        "source": "app-store",
        "external_id": "demo-017",
        "posted_at": _ago(9),
        "author": _author("PeppercornPete"),
        "body": "1 star. Since the last update the app crashes as soon as I open the recipe "
        "steps. Reinstalled twice. I cook with my phone propped on the counter and now I "
        "have to guess the timings.",
    },
    {
        "source": "app-store",
        "external_id": "demo-018",
        "posted_at": _ago(70),
        "author": _author("weeknight_wendy"),
        "body": "4 stars. Really handy for planning the week. Would love a shopping list export "
        "for the extra bits I need to buy, and a dark mode please!",
    },
    {
        "source": "app-store",
        "external_id": "demo-019",
        "posted_at": _ago(52),
        "author": _author("Marco T."),
        "body": "2 stars. There is nowhere in the app to pause my subscription for two weeks "
        "while I'm on holiday. Had to email support and I still got charged.",
    },
    {
        "source": "app-store",
        "external_id": "demo-020",
        "posted_at": _ago(200),
        "author": _author("happyhomecook22"),
        "body": "5 stars. Best meal kit app I've tried. Portions are generous and the step "
        "photos actually look like what ends up on the plate.",
    },
    {
        "source": "app-store",
        "external_id": "demo-021",
        "posted_at": _ago(26),
        "author": _author("Katrin_HH"),
        "body": "1 Stern. Die App zeigt mir immer Lieferzeiten für die falsche Postleitzahl an. "
        "Ich habe meine Adresse schon dreimal geändert, es passiert nichts.",
    },
    {
        "source": "app-store",
        "external_id": "demo-022",
        "posted_at": _ago(15),
        "author": _author("jlo_runs"),
        "body": "1 star. Apple Pay fails at checkout with 'payment method declined' but the same "
        "card works everywhere else. My welcome voucher expired while I was retrying.",
    },
    {
        "source": "app-store",
        "external_id": "demo-023",
        "posted_at": _ago(260),
        "author": _author("Fennel Fan"),
        "body": "3 stars. The rating screen freezes if you try to rate more than one meal. "
        "Annoying, because the ratings are supposed to improve my recommendations.",
    },
    # --- Trustpilot ---------------------------------------------------------------------
    {
        "source": "trustpilot",
        "external_id": "demo-024",
        "posted_at": _ago(36),
        "author": _author("helen.b", "Helen Brooks", 3),
        "body": "Two missing ingredients in three weeks (no coconut milk, then no limes). "
        "Support refunded the first time, this time the chat just closed on me. Food is "
        "good when it all turns up.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-025",
        "posted_at": _ago(18),
        "author": _author("d.osei", "Daniel Osei", 1),
        "body": "I cancelled in January and I've just been charged £59.94 again. Second time "
        "this has happened. I want my money back or I'm filing a chargeback with my bank.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-026",
        "posted_at": _ago(110),
        "author": _author("annie.m", "Annie Morgan", 12),
        "body": "Fantastic service. Our driver Marcus was lovely and the packaging is mostly "
        "recyclable now, which was my biggest gripe before. Five stars from us.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-027",
        "posted_at": _ago(4),
        "author": _author("s.nowak", "Sylvia Nowak", 2),
        "body": "The chicken thighs in my box smelled off when I opened them and the ice packs "
        "were completely melted. My son ate rice from the same bag and was sick that "
        "night. This is a food safety problem and I want someone to call me today.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-028",
        "posted_at": _ago(80),
        "author": _author("chris.referral", "Chris Lang", 4),
        "body": "Used the refer-a-friend deal: my friend signed up with my link and neither of "
        "us got the £20 credit. The terms page is vague about when it applies.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-029",
        "posted_at": _ago(140),
        "author": _author("margaux.l", "Margaux Laurent", 6),
        "body": "Recettes délicieuses, mais la livraison du jeudi arrive toujours en retard. Le "
        "service client est aimable, mais rien ne change.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-030",
        "posted_at": _ago(300),
        "author": _author("j.fairbairn", "Jo Fairbairn", 9),
        "body": "I interviewed for a customer care role, did three rounds and then never heard "
        "back, not even a rejection email. Not a great look for a company that sells "
        "itself on care.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-031",
        "posted_at": _ago(56),
        "author": _author("pauline.r", "Pauline Reid", 5),
        "body": "Loved the first box at the intro price, but once delivery is added the full "
        "price is about £20 a week more than the advert suggested. Felt a bit misleading.",
    },
    {
        "source": "trustpilot",
        "external_id": "demo-032",
        "posted_at": _ago(190),
        "author": _author("ed.w", "Ed Wallace", 7),
        "body": "Good food, but the tracker in the app said 'delivered' a full hour before the "
        "van actually turned up. Minor, but confusing.",
    },
    # --- Reddit -------------------------------------------------------------------------
    {
        "source": "reddit",
        "external_id": "demo-033",
        "posted_at": _ago(22),
        "author": _author("u/saucepan_sally", "", 412),
        "url": "https://www.reddit.com/r/mealkits/comments/demo033/",
        "body": "Skillet & Sprout after 3 months: recipes more interesting than the others, "
        "prices higher, and the app is buggy (my basket randomly empties itself). Anyone "
        "else getting the basket bug?",
    },
    {
        "source": "reddit",
        "external_id": "demo-034",
        "posted_at": _ago(10),
        "author": _author("u/throwaway_kale", "", 35),
        "url": "https://www.reddit.com/r/mealkits/comments/demo034/",
        "body": "PSA: the FEAST40 code only works on the website, not in the app. I spent 20 "
        "minutes with support who told me to reinstall. Just use the browser.",
    },
    {
        "source": "reddit",
        "external_id": "demo-035",
        "posted_at": _ago(160),
        "author": _author("u/spreadsheet_chef", "", 2210),
        "body": "Anyone here work at Skillet & Sprout HQ? Thinking of applying for the data "
        "analyst opening. What's the culture like, and is remote actually remote?",
    },
    {
        "source": "reddit",
        "external_id": "demo-036",
        "posted_at": _ago(68),
        "author": _author("u/ss_throwaway_2024", "", 1),
        "body": "Current employee, throwaway account. My team found out about the new 4-day "
        "delivery schedule from a Reddit thread before management told us. Morale is "
        "not great right now.",
    },
    {
        "source": "reddit",
        "external_id": "demo-037",
        "posted_at": _ago(120),
        "author": _author("u/nutfree_nat", "", 98),
        "body": "Are the boxes safe for someone with a severe nut allergy? The site says 'may "
        "contain' on almost every recipe, which doesn't really help me decide.",
    },
    {
        "source": "reddit",
        "external_id": "demo-038",
        "posted_at": _ago(250),
        "author": _author("u/harissa_hank", "", 5030),
        "url": "https://www.reddit.com/r/mealkits/comments/demo038/",
        "body": "Made the harissa salmon from last week's Skillet & Sprout box and it's now in "
        "my regular rotation. Photo in the comments. Seriously good.",
    },
    {
        "source": "reddit",
        "external_id": "demo-039",
        "posted_at": _ago(280),
        "author": _author("u/crumb_lord", "", 670),
        "body": "[OC] My sourdough starter on day 30. His name is Clint Yeastwood.",
    },
    {
        "source": "reddit",
        "external_id": "demo-040",
        "posted_at": _ago(48),
        "author": _author("u/broke_student_bites", "", 140),
        "body": "Did the student discount quietly disappear? It was 25% last term and now the "
        "student verification page just gives a 404.",
    },
    # --- Web form -----------------------------------------------------------------------
    {
        "source": "web-form",
        "external_id": "demo-041",
        "posted_at": _ago(100),
        "author": _author("office@brightwell-primary.example", "Mrs J. Hughes"),
        "body": "Hello, I'm writing from Brightwell Primary School. Do you sponsor school "
        "cooking clubs, or could you donate a few boxes for our summer fair raffle?",
    },
    {
        "source": "web-form",
        "external_id": "demo-042",
        "posted_at": _ago(28),
        "author": _author("r.ahmed@mail.example", "Rashid Ahmed"),
        "body": "I changed my email address in account settings and now I can't log in with "
        "either the old or the new one. Password reset emails never arrive. Account "
        "number 120394.",
    },
    {
        "source": "web-form",
        "external_id": "demo-043",
        "posted_at": _ago(60),
        "author": _author("l.fischer@mail.example", "Lena Fischer"),
        "body": "Please delete my account and all the personal data you hold on me, under GDPR. "
        "This is the third time I'm asking.",
    },
    {
        "source": "web-form",
        "external_id": "demo-044",
        "posted_at": _ago(210),
        "author": _author("hello@proteinplate.example", "Dr. Amara Nwosu, RD"),
        "body": "I'm a registered dietitian and would like to discuss a partnership on a "
        "high-protein range. Happy to share my media kit and audience figures.",
    },
    {
        "source": "web-form",
        "external_id": "demo-045",
        "posted_at": _ago(75),
        "author": _author("tobyk@uni.example", "Toby Kerr"),
        "body": "Hi, I saw the advert for seasonal warehouse staff. Is there still time to "
        "apply, and do you offer weekend-only shifts? I'm a student.",
    },
    {
        "source": "web-form",
        "external_id": "demo-046",
        "posted_at": _ago(14),
        "author": _author("ana.souza@mail.example", "Ana Souza"),
        "body": "Olá, recebi a caixa errada esta semana: veio uma receita com carne de porco e "
        "eu sou vegetariana. Podem trocar ou reembolsar?",
    },
    {
        "source": "web-form",
        "external_id": "demo-047",
        "posted_at": _ago(320),
        "author": _author("seo-growth@ranknow.example", "RankNow Growth Team"),
        "body": "Boost your website ranking! We guarantee page 1 on Google in 7 days. Reply now "
        "for a FREE audit. Cheap packages available this week only.",
    },
    # --- Community forum ----------------------------------------------------------------
    {
        "source": "community-forum",
        "external_id": "demo-048",
        "posted_at": _ago(84),
        "author": _author("corianderhater", "Nina", 0),
        "body": "Feature idea: let us swap a single ingredient (coriander to parsley, say) "
        "instead of swapping the whole recipe. Plenty of us can't stand coriander!",
    },
    {
        "source": "community-forum",
        "external_id": "demo-049",
        "posted_at": _ago(33),
        "author": _author("tahini_trouble", "Owen", 0),
        "body": "My box this week had a cracked jar of tahini that leaked over all the "
        "vegetables. Photos attached. How do I get a replacement before Friday?",
    },
    {
        "source": "community-forum",
        "external_id": "demo-050",
        "posted_at": _ago(240),
        "author": _author("festive_fi", "Fiona", 0),
        "body": "Does anyone know when the Christmas menu launches? Last year forum members got "
        "an early-bird discount code.",
    },
    {
        "source": "community-forum",
        "external_id": "demo-051",
        "posted_at": _ago(65),
        "author": _author("macro_mike", "Mike", 0),
        "body": "The nutrition info in the app says 420 kcal for the katsu curry but the recipe "
        "card says 680 kcal. Which one is right? I track my macros so this matters.",
    },
    {
        "source": "community-forum",
        "external_id": "demo-052",
        "posted_at": _ago(180),
        "author": _author("nightshift_nurse", "Jess", 0),
        "body": "Thank you to whoever in the recipe team came up with the 15-minute range. As a "
        "nurse on night shifts it has been an absolute lifesaver.",
    },
    {
        "source": "community-forum",
        "external_id": "demo-053",
        "posted_at": _ago(2),
        "author": _author("privacy_paul", "Paul", 0),
        "body": "Heads up: the order history screen in the app is showing other people's "
        "delivery addresses. I can see a stranger's address in Bristol. That's a data "
        "leak - please fix it ASAP.",
    },
    {
        "source": "community-forum",
        "external_id": "demo-054",
        "posted_at": _ago(145),
        "author": _author("giulia_mi", "Giulia", 0),
        "body": "Ciao a tutti! Qualcuno sa se consegnano anche a Milano? Mi piacerebbe provare "
        "le box vegetariane.",
    },
]


class Command(BaseCommand):
    help = (
        "Create demo users (a manager and an agent per department, plus a superuser), demo "
        "sources and posts, route the posts, and print a fresh demo API key. Safe to run "
        "again. Refuses to run with DEBUG off unless --force: the demo password is public."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password for every demo user (default: {DEFAULT_PASSWORD}).",
        )
        parser.add_argument(
            "--no-route",
            action="store_true",
            help="Leave the posts for the Celery worker instead of routing them here.",
        )
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")
        parser.add_argument(
            "--credentials-file",
            default=str(settings.DEMO_CREDENTIALS_FILE),
            help="Where to save the logins, the API key and a curl command (default: "
            "DEMO_CREDENTIALS_FILE, .run/demo-credentials.txt; `make run` prints it once the "
            "servers are up). Empty: none.",
        )

    def handle(
        self, *args, password: str, no_route: bool, force: bool, credentials_file: str, **options
    ):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off, so this looks like a real deployment. seed_demo creates a "
                "superuser and department accounts whose password is public (the default is "
                "in the source code). Pass --force if this really is a demo instance."
            )
        if not password:
            raise CommandError("--password may not be empty.")

        logins = self._users(password)
        self._rules()
        sources = self._sources()
        item_ids = self._posts(sources)
        if no_route:
            waiting = FeedbackItem.objects.filter(
                pk__in=item_ids, state=FeedbackItem.State.RECEIVED
            ).count()
            self.stdout.write(
                f"Routing: skipped (--no-route); {waiting} post(s) wait for a "
                "Celery worker on the 'routing' queue."
            )
        else:
            self._route(item_ids)
        raw = self._api_key(sources[API_KEY_SOURCE])
        if credentials_file:
            _credentials_save(
                Path(credentials_file), logins, password, raw, sources[API_KEY_SOURCE].slug
            )
            self.stdout.write(f"Logins, API key and a curl command saved to {credentials_file}.")

    # --- rules -----------------------------------------------------------------------------

    def _rules(self) -> None:
        """A few rules an admin would write on day one; they show how rules and the model
        work together (and route what the model is unsure of)."""
        from routing.models import Rule
        from routing.services import rule_save

        made = 0
        for name, position, words, department in DEMO_RULES:
            if Rule.objects.filter(name=name).exists():
                continue
            rule_save(
                rule=None,
                name=name,
                position=position,
                enabled=True,
                match="all",
                conditions=[{"field": "body", "op": "contains_any", "value": words}],
                actions=[{"type": "route_to", "department": department}],
            )
            made += 1
        self.stdout.write(f"Rules ({made} created, {len(DEMO_RULES) - made} already present)")

    # --- users ---------------------------------------------------------------------------

    def _users(self, password: str) -> list[tuple[str, str, str]]:
        User = get_user_model()
        # One hash for every demo user: the password is public anyway, and a PBKDF2 hash
        # costs about half a second each on these machines.
        hashed = make_password(password)
        rows: list[tuple[str, str, str]] = []
        created = 0
        with transaction.atomic():
            admin, made = User.objects.get_or_create(
                username="admin", defaults={"email": "admin@example.com"}
            )
            created += made
            admin.is_staff = admin.is_superuser = admin.is_active = True
            admin.password = hashed
            admin.save()
            rows.append(("admin", "(all)", "superuser"))
            for dept in Department.objects.order_by("slug"):
                for role in (Membership.Role.MANAGER, Membership.Role.AGENT):
                    username = f"{dept.slug}-{role}"
                    user, made = User.objects.get_or_create(
                        username=username,
                        defaults={
                            "email": f"{username}@example.com",
                            "first_name": dept.name,
                            "last_name": role.label,
                        },
                    )
                    created += made
                    user.is_active = True
                    user.password = hashed
                    user.save()
                    Membership.objects.update_or_create(
                        user=user, department=dept, defaults={"role": role}
                    )
                    rows.append((username, dept.name, role.value))

        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Users ({created} created, {len(rows) - created} already present)"
            )
        )
        width = max(len(r[0]) for r in [("username",), *rows]) + 2
        dwidth = max(len(r[1]) for r in [("", "department"), *rows]) + 2
        self.stdout.write(f"  {'username':<{width}}{'department':<{dwidth}}role")
        for username, dept_name, role in rows:
            self.stdout.write(f"  {username:<{width}}{dept_name:<{dwidth}}{role}")
        self.stdout.write(f"  password for all of them: {password}")
        return rows

    # --- sources and posts ---------------------------------------------------------------

    def _sources(self) -> dict[str, Source]:
        sources: dict[str, Source] = {}
        created = 0
        for slug, name, kind in DEMO_SOURCES:
            sources[slug], made = Source.objects.get_or_create(
                slug=slug, defaults={"name": name, "kind": kind}
            )
            created += made
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Sources ({created} created, {len(sources) - created} already present): "
            )
            + ", ".join(sources)
        )
        return sources

    def _posts(self, sources: dict[str, Source]) -> list[int]:
        """Ingest per source, as an integration would; returns every demo item's id."""
        by_source: dict[str, list[dict]] = {}
        for post in DEMO_POSTS:
            by_source.setdefault(post["source"], []).append(post)
        counts: Counter[str] = Counter()
        item_ids: list[int] = []
        for slug, payloads in by_source.items():
            outcomes = feedback_ingest(
                payloads=payloads, default_source=sources[slug], allowed_source_ids=None
            )
            for outcome in outcomes:
                counts[outcome.status] += 1
                if outcome.item_id is not None:
                    item_ids.append(outcome.item_id)
                if outcome.errors:
                    self.stderr.write(
                        f"  {slug}/{payloads[outcome.index]['external_id']} "
                        f"rejected: {outcome.errors}"
                    )
        line = (
            f"Posts: {counts['created']} created, {counts['duplicate']} already present "
            f"(over {len(by_source)} sources)"
        )
        if counts["rejected"]:
            line += f", {counts['rejected']} rejected (see above)"
        self.stdout.write(self.style.MIGRATE_HEADING(line))
        return item_ids

    # --- routing -------------------------------------------------------------------------

    def _route(self, item_ids: list[int]) -> None:
        # A worker may already be routing these (ingest enqueued them after commit):
        # items_route skips what is routed or locked, so running it here is harmless.
        waiting = list(
            FeedbackItem.objects.filter(
                pk__in=item_ids, state=FeedbackItem.State.RECEIVED
            ).values_list("pk", flat=True)
        )
        routed_now = 0
        if waiting:
            try:
                summary = items_route(item_ids=waiting)
            except (FileNotFoundError, ValueError) as exc:
                # No usable classifier (none installed, or an artifact that does not load):
                # the rest of the demo is still worth having, and a worker routes the posts
                # once a model loads.
                self.stderr.write(
                    self.style.WARNING(
                        f"Routing: not possible now ({exc}); {len(waiting)} post(s) stay "
                        "'received' for the worker."
                    )
                )
                return
            routed_now = len(summary.item_ids)
        states = dict(
            FeedbackItem.objects.filter(pk__in=item_ids)
            .values_list("state")
            .annotate(n=Count("pk"))
        )
        cases = (
            Case.objects.filter(item_id__in=item_ids)
            .values_list("department__name")
            .annotate(n=Count("pk"))
            .order_by("department__name")
        )
        state_text = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Routing: {routed_now} post(s) routed now; all demo posts: "
            )
            + state_text
        )
        if cases:
            self.stdout.write("  cases: " + ", ".join(f"{name} {n}" for name, n in cases))

    # --- API key -------------------------------------------------------------------------

    def _api_key(self, source: Source) -> str:
        revoked = 0
        for key in ApiKey.objects.filter(name=API_KEY_NAME, revoked_at=None):
            apikey_revoke(key=key)
            revoked += 1
        key, raw = apikey_create(name=API_KEY_NAME, source=source, scopes=["ingest", "read"])
        note = f"; {revoked} previous demo key(s) revoked" if revoked else ""
        self.stdout.write(
            self.style.MIGRATE_HEADING(f'API key "{API_KEY_NAME}"')
            + f" (source {source.slug}, scopes "
            f"{', '.join(key.scopes)}{note}):"
        )
        self.stdout.write(f"  {raw}")
        return raw


def _curl(raw_key: str) -> str:
    return (
        f"curl -X POST {API_URL} \\\n"
        f'  -H "Authorization: Bearer {raw_key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -d \'{"external_id": "curl-1", "author": {"handle": "curl-tester"}, '
        '"body": "The app crashes when I open my order history."}\''
    )


def _credentials_save(path: Path, logins, password: str, raw_key: str, source: str) -> None:
    """The first screen's facts, in a file (git-ignored under .run/): `make run` prints it
    after the servers' start-up lines, so nothing buries it."""
    width = max(len(u) for u, _, _ in logins) + 2
    lines = [
        "Switchboard demo is up: http://127.0.0.1:8000/",
        "",
        f"Log in with password {password!r} as:",
        *(f"  {u:<{width}}{d} {r}" for u, d, r in logins),
        "",
        f"API key (source {source}, scopes ingest, read):",
        f"  {raw_key}",
        "",
        "Post a piece of feedback:",
        _curl(raw_key),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    path.chmod(0o600)
