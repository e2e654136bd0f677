"""Cases over the API: the same services and access rules as the browser."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from config.api_errors import problem
from config.api_support import NewestFirstPagination
from departments import services
from departments.api.serializers import (
    CaseEventSerializer,
    CaseSerializer,
    CaseUpdateSerializer,
    DepartmentSerializer,
    HandoffSerializer,
    NoteInSerializer,
    NoteSerializer,
)
from departments.filters import CaseFilter
from departments.models import Case, CaseEvent, Department, Note
from feedback.api.auth import ReadScope, WriteScope, request_actor, request_viewer
from feedback.models import FeedbackItem
from privacy.services import sealed_access_record


def run_action(fn):
    """Turn service errors into API errors: 403, 409 (someone was first) or 400."""
    try:
        return fn()
    except services.PermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except services.Conflict as exc:
        return problem(409, str(exc), kind="conflict")
    except services.ActionError as exc:
        raise ValidationError({"non_field_errors": [str(exc)]}) from exc


class DepartmentViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [ReadScope]
    serializer_class = DepartmentSerializer
    queryset = Department.objects.order_by("name")
    lookup_field = "slug"
    pagination_class = None


class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Cases the caller may see. Updates need the `write` scope (or a browser session) and
    the same permission as in the browser: members of the case's department."""

    serializer_class = CaseSerializer
    pagination_class = NewestFirstPagination
    filterset_class = CaseFilter

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [ReadScope()]
        return [WriteScope()]

    def get_queryset(self):
        viewer = request_viewer(self.request)
        return (
            Case.objects.visible_to(viewer)
            .filter(item__in=FeedbackItem.objects.visible_to(viewer).values("pk"))
            .select_related("item", "item__source", "item__author", "department", "assignee")
        )

    def retrieve(self, request, pk=None):
        case = self.get_object()
        sealed_access_record(viewer=request.user, cases=[case], via="api")
        return Response(self.get_serializer(case).data)

    def _respond(self, case, fallback=None):
        """The case as the caller now sees it. A handoff into a department the caller may
        not see (a sealed one) answers with the caller's own case instead: the other one
        is not theirs to read, and whether it existed before must not show."""
        visible = self.get_queryset().filter(pk=case.pk).first()
        if visible is None and fallback is not None:
            visible = self.get_queryset().get(pk=fallback.pk)
        if visible is None:
            raise NotFound()
        return Response(CaseSerializer(visible, context=self.get_serializer_context()).data)

    @extend_schema(request=CaseUpdateSerializer, responses=CaseSerializer)
    def partial_update(self, request, pk=None):
        case = self.get_object()
        actor = request_actor(request)
        data = CaseUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if not values:
            raise ValidationError({"non_field_errors": ["Nothing to change."]})

        def apply():
            current = case
            if "assignee" in values:
                current = services.case_assign(
                    case=current, assignee=values["assignee"], actor=actor
                )
            if "status" in values:
                current = services.case_set_status(
                    case=current,
                    status=values["status"],
                    actor=actor,
                    reason=values.get("reason", ""),
                    note=values.get("note", ""),
                )
            if "priority" in values:
                current = services.case_set_priority(
                    case=current, priority=values["priority"], actor=actor
                )
            if values.get("add_tags") or values.get("remove_tags"):
                current = services.case_tag(
                    case=current,
                    actor=actor,
                    add=values.get("add_tags", []),
                    remove=values.get("remove_tags", []),
                )
            return self._respond(current)

        return run_action(apply)

    def _handoff(self, request, fn):
        case = self.get_object()
        actor = request_actor(request)
        data = HandoffSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return run_action(
            lambda: self._respond(
                fn(
                    case=case,
                    to_department=data.validated_data["department"],
                    actor=actor,
                    note=data.validated_data.get("note", ""),
                ),
                fallback=case,
            )
        )

    @extend_schema(
        request=HandoffSerializer,
        responses=CaseSerializer,
        summary="Reroute: this case ends, the other department's starts",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reroute(self, request, pk=None):
        return self._handoff(request, services.case_reroute)

    @extend_schema(
        request=HandoffSerializer,
        responses=CaseSerializer,
        summary="Share with another department: both keep a case",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def share(self, request, pk=None):
        return self._handoff(request, services.case_share)

    @extend_schema(request=None, responses=CaseSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def claim(self, request, pk=None):
        case = self.get_object()
        actor = request_actor(request)
        return run_action(lambda: self._respond(services.case_claim(case=case, user=actor)))

    @extend_schema(methods=["GET"], responses=NoteSerializer(many=True))
    @extend_schema(methods=["POST"], request=NoteInSerializer, responses={201: NoteSerializer})
    @action(
        detail=True,
        methods=["get", "post"],
        permission_classes=[ReadScope],
        pagination_class=None,
        filter_backends=[],
    )
    def notes(self, request, pk=None):
        case = self.get_object()
        sealed_access_record(viewer=request.user, cases=[case], via="api")
        if request.method == "GET":
            notes = (
                Note.objects.visible_to(request_viewer(request))
                .filter(item=case.item)
                .select_related("author", "department")
                .order_by("created_at", "pk")
            )
            return Response(NoteSerializer(notes, many=True).data)
        if not WriteScope().has_permission(request, self):
            raise PermissionDenied("This API key lacks the 'write' scope.")
        actor = request_actor(request)
        data = NoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = run_action(
            lambda: services.note_add(
                item=case.item,
                actor=actor,
                body=data.validated_data["body"],
                department=data.validated_data.get("department"),
            )
        )
        if isinstance(note, Response):
            return note
        return Response(NoteSerializer(note).data, status=201)

    @extend_schema(responses=CaseEventSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[ReadScope],
        pagination_class=None,
        filter_backends=[],
    )
    def events(self, request, pk=None):
        case = self.get_object()
        sealed_access_record(viewer=request.user, cases=[case], via="api")
        events = CaseEvent.objects.visible_to(request_viewer(request)).filter(item=case.item)
        events = events.select_related("actor", "from_department", "to_department").order_by(
            "created_at", "pk"
        )[:500]
        return Response(CaseEventSerializer(events, many=True).data)

    def get_object(self):
        try:
            return super().get_object()
        except Case.DoesNotExist as exc:  # pragma: no cover - get_object raises Http404
            raise NotFound() from exc
