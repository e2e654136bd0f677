"""Hand-written department vocabulary: prior knowledge that does not come from any dataset.

The public training sources each cover one narrow slice of a department (HR is employee
reviews and payroll questions, noise is SMS spam and assistant small talk), so a model
learned from them alone ties a department to one source's style. These short word lists
say what each department is about in general; the model turns the hit counts into
features whose weights it learns, so the lists nudge rather than dictate.

Entries are normalized forms (lower case, see `normalize_text`); two-word entries match
adjacent words.
"""

from __future__ import annotations


def _entries(text: str) -> frozenset[str]:
    return frozenset(text.split())


DEPARTMENT_TERMS: dict[str, frozenset[str]] = {
    "product": _entries(
        """
        bug bugs crash crashes crashed crashing freeze freezes frozen glitch glitches error
        errors broken feature features update updated updates version release install
        reinstall uninstall app apps ui interface screen button settings option options menu
        sync slow laggy lag loading load loads battery notification notifications
        performance compatibility android ios iphone ipad windows mac browser plugin
        extension api sdk implement implementation support_for dark_mode request wish
        suggestion please_add add_option would_be_nice should_have missing exception stack
        trace regression seat seats legroom wifi entertainment food meal cabin aircraft
        plane quality design keyboard widget login_screen font layout display editor
        doesnt_work not_working stopped_working keeps_crashing fix fixed outage website
        page upload download dashboard integration flimsy defective faulty software
        hardware device firmware offline toggle export import search filter dark_theme
        usability ux new_version latest_version old_version redesign
        """
    ),
    "support": _entries(
        """
        _support_handle_ help please_help assist assistance question how_do how_can how_to
        why_is where_is
        cant cannot unable issue problem problems account password reset locked blocked
        refund refunds charge charged charges fee fees payment paid bill billing invoice
        order orders delivery delivered shipping shipped tracking package parcel arrived
        missing lost cancel cancelled canceled cancellation delayed delay waiting wait hold
        on_hold hours_on customer_service agent representative rep call_back reply respond
        response contact ticket status card transfer declined pending verify verification
        rebook booking reservation luggage baggage bag bags flight flights gate replacement
        replace return exchange warranty subscription
        refunded reimburse reimbursement compensation credit courier dispatch dispatched
        shipment damaged wrong_item never_arrived not_received where_is my_order
        my_account my_refund login log_in sign_in invoice receipt chargeback dispute
        overcharged double_charged charged_twice renewal helpdesk live_chat no_response
        complaint address reschedule unsubscribe_me close_my delete_my
        deliver delivering deliveries ship_to deliver_to delivery_to pincode pin_code
        postcode post_code zip_code cash_on_delivery cod emi emi_option instalment
        instalments installment installments monthly_payments order_status order_id
        ordered purchased call_me call_back contact_me reach_me customer_care
        executive store_open shop_open opening_hours store_hours pick_up collect_from
                """
    ),
    "hr": _entries(
        """
        job jobs work working worked employer employee employees staff colleague colleagues
        coworkers manager managers management boss supervisor team_leader salary salaries
        wage wages pay paid_holiday payroll payday paycheck bonus bonuses benefits pension
        401k pto vacation holiday_allowance leave sick_leave maternity paternity overtime
        shift shifts rota hours_per contract career progression promotion promoted training
        onboarding hiring hire hired recruiter recruitment interview interviews applicant
        application_status resume cv position role vacancy vacancies internship intern
        culture workload work_life life_balance hr human_resources appraisal review_cycle
        redundancy fired layoffs resign resigned quit union w2 tax_form direct_deposit
        apply applied applying application applications opening openings job_offer
        offer_letter recruiting recruiters candidate candidates graduate apprenticeship
        ex_employee former_employee workplace workforce payslip pay_rise raise underpaid
        understaffed breaks night_shift warehouse annual_leave notice_period dismissed
        sacked disciplinary grievance harassment discrimination toxic micromanagement
        perks start_date work_visa visa_sponsorship part_time full_time employment
        employed headcount job_opening are_you_hiring
        """
    ),
    "marketing": _entries(
        """
        love loved loving awesome amazing great excellent fantastic best wonderful brilliant
        favorite favourite recommend recommended thanks thank thank_you kudos congrats
        congratulations proud happy excited cool nice beautiful perfect impressed brand
        campaign promo promotion_code coupon discount offer sale deal launch launched event
        sponsor sponsorship partnership partner collab collaboration influencer press media
        interview_request ambassador giveaway contest advert ad ads announcement newsletter
        promo_code discount_code coupon_code voucher_code referral affiliate collaborate
        collaborating sponsored sponsoring partnerships pr journalist article blog blogger
        followers instagram youtube tiktok podcast creator content_creator shoutout
        billboard commercial advertising marketing media_kit loyalty rewards percent_off
        first_order new_customers deals fan fans
        """
    ),
    "noise": _entries(
        """
        free win winner won prize claim cash urgent congratulations_you txt text_stop
        stop_to reply_stop unsubscribe subscribe click lottery guaranteed selected award
        voucher ringtone xxx sexy dating chat_now call_now _phone_ _url_ lol lmao haha
        hahaha omg joke weather bored tonight dinner movie song hey hello hi bye goodnight
        morning birthday love_you miss_you
        crypto bitcoin nft forex invest investment double_your dm_me link_in in_bio
        follow_back my_channel check_out subscribe_to football soccer basketball match
        goal weekend party rofl wtf bruh meme politics election bored random
        """
    ),
}


def lexicon_terms() -> dict[str, frozenset[str]]:
    """Department terms with `_` joining the words of multi-word entries replaced by space.

    Placeholder tokens such as `_phone_` keep their underscores.
    """
    terms: dict[str, frozenset[str]] = {}
    for department, entries in DEPARTMENT_TERMS.items():
        terms[department] = frozenset(
            entry if entry.startswith("_") else entry.replace("_", " ") for entry in entries
        )
    return terms
